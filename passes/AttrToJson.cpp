//===- AttrToJson.cpp - attributes as JSON for the runtime ABI ------------===//

#include "passes/AttrToJson.h"
#include "dialect/HoneOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::hone;

namespace {
void printString(llvm::raw_ostream &os, StringRef s) {
  os << '"';
  for (unsigned char c : s) {
    switch (c) {
    case '"': os << "\\\""; break;
    case '\\': os << "\\\\"; break;
    case '\n': os << "\\n"; break;
    case '\r': os << "\\r"; break;
    case '\t': os << "\\t"; break;
    default:
      if (c < 0x20)
        os << llvm::format("\\u%04x", c);
      else
        os << c;
    }
  }
  os << '"';
}

void printDouble(llvm::raw_ostream &os, double v) {
  if (std::isnan(v)) {
    os << "\"nan\"";
    return;
  }
  if (std::isinf(v)) {
    os << (v > 0 ? "\"inf\"" : "\"-inf\"");
    return;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s(buf);
  // Keep it a JSON number that reads back as a float.
  if (s.find_first_of(".eE") == std::string::npos)
    s += ".0";
  os << s;
}

void printArch(llvm::raw_ostream &os, ArchAttr a) {
  os << "{\"family\":";
  printString(os, stringifyEnum(a.getFamily()));
  os << ",\"vocab\":" << a.getVocab() << ",\"d_model\":" << a.getDModel()
     << ",\"layers\":" << a.getLayers() << ",\"heads\":" << a.getHeads()
     << ",\"kv_heads\":" << a.getKvHeads() << ",\"ffn\":" << a.getFfn()
     << ",\"max_seq\":" << a.getMaxSeq() << ",\"norm_eps\":";
  printDouble(os, a.getNormEps().convertToDouble());
  os << ",\"rope_theta\":";
  printDouble(os, a.getRopeTheta().convertToDouble());
  os << ",\"tied\":" << (a.getTied() ? "true" : "false")
     << ",\"qkv_bias\":" << (a.getQkvBias() ? "true" : "false");
  // Llama-family options, printed only when set.
  if (a.getHeadDim())
    os << ",\"head_dim\":" << a.getHeadDim();
  if (a.getQkNorm())
    os << ",\"qk_norm\":true";
  if (a.getRopeScaling() != RopeScaling::none) {
    os << ",\"rope_scaling\":";
    printString(os, stringifyEnum(a.getRopeScaling()));
    os << ",\"rope_factor\":";
    printDouble(os, a.getRopeFactor().convertToDouble());
    os << ",\"rope_low_freq\":";
    printDouble(os, a.getRopeLowFreq().convertToDouble());
    os << ",\"rope_high_freq\":";
    printDouble(os, a.getRopeHighFreq().convertToDouble());
    os << ",\"rope_original_max\":" << a.getRopeOriginalMax();
  }
  os << "}";
}
} // namespace

void hone::printJson(llvm::raw_ostream &os, Attribute attr) {
  if (!attr) {
    os << "null";
    return;
  }
  if (auto s = dyn_cast<StringAttr>(attr))
    return printString(os, s.getValue());
  if (auto b = dyn_cast<BoolAttr>(attr)) {
    os << (b.getValue() ? "true" : "false");
    return;
  }
  if (auto i = dyn_cast<IntegerAttr>(attr)) {
    if (i.getType().isInteger(1))
      os << (i.getValue().getBoolValue() ? "true" : "false");
    else if (i.getType().isUnsignedInteger())
      os << i.getValue().getZExtValue();
    else
      os << i.getValue().getSExtValue();
    return;
  }
  if (auto f = dyn_cast<FloatAttr>(attr))
    return printDouble(os, f.getValueAsDouble());
  if (auto d = dyn_cast<DictionaryAttr>(attr)) {
    os << '{';
    llvm::interleave(
        d.getValue(), os,
        [&](NamedAttribute n) {
          printString(os, n.getName().getValue());
          os << ':';
          printJson(os, n.getValue());
        },
        ",");
    os << '}';
    return;
  }
  if (auto a = dyn_cast<ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.getValue(), os, [&](Attribute e) { printJson(os, e); },
                     ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseI64ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os, ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseI32ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os, ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseF64ArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os, [&](double v) { printDouble(os, v); },
                     ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<DenseBoolArrayAttr>(attr)) {
    os << '[';
    llvm::interleave(a.asArrayRef(), os,
                     [&](bool v) { os << (v ? "true" : "false"); }, ",");
    os << ']';
    return;
  }
  if (auto a = dyn_cast<ArchAttr>(attr))
    return printArch(os, a);
  if (auto u = dyn_cast<UnitAttr>(attr)) {
    os << "true";
    return;
  }
  if (auto t = dyn_cast<TypeAttr>(attr)) {
    std::string s;
    llvm::raw_string_ostream ts(s);
    t.getValue().print(ts);
    return printString(os, s);
  }
  // Enum attributes print as `#hone<kind keyword>`: the keyword.
  std::string s;
  llvm::raw_string_ostream as(s);
  attr.print(as);
  StringRef text(s);
  if (text.starts_with("#hone<") && text.ends_with(">")) {
    StringRef inner = text.drop_front(6).drop_back();
    return printString(os, inner.rsplit(' ').second.empty()
                               ? inner
                               : inner.rsplit(' ').second);
  }
  printString(os, text);
}

std::string hone::toJson(Attribute attr) {
  std::string s;
  llvm::raw_string_ostream os(s);
  printJson(os, attr);
  return s;
}

std::string hone::toJson(DictionaryAttr dict,
                         ArrayRef<std::pair<StringRef, Attribute>> extra) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << '{';
  bool first = true;
  auto emit = [&](StringRef k, Attribute v) {
    if (!first)
      os << ',';
    first = false;
    printString(os, k);
    os << ':';
    printJson(os, v);
  };
  if (dict)
    for (NamedAttribute n : dict)
      emit(n.getName().getValue(), n.getValue());
  for (auto &[k, v] : extra)
    emit(k, v);
  os << '}';
  return s;
}
