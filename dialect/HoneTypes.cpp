//===- HoneTypes.cpp - hone types -----------------------------------------===//

#include "dialect/HoneTypes.h"
#include "dialect/HoneDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::hone;

#define GET_TYPEDEF_CLASSES
#include "dialect/HoneTypes.cpp.inc"

Type ModelType::parse(AsmParser &parser) {
  Attribute attr;
  if (parser.parseLess())
    return {};
  SMLoc loc = parser.getCurrentLocation();
  if (parser.parseAttribute(attr))
    return {}; // the attribute's parser or verifier said why
  auto arch = dyn_cast<ArchAttr>(attr);
  if (!arch) {
    parser.emitError(loc, "expected a #hone.arch<…> attribute");
    return {};
  }
  ::hone::HeadKind head = ::hone::HeadKind::LM;
  if (succeeded(parser.parseOptionalComma())) {
    SMLoc headLoc = parser.getCurrentLocation();
    StringRef keyword;
    if (parser.parseKeyword(&keyword))
      return {};
    std::optional<::hone::HeadKind> parsed =
        ::hone::enumFromKeyword(::hone::kHeadKinds, keyword);
    if (!parsed) {
      parser.emitError(headLoc, "expected head 'lm' or 'scalar'");
      return {};
    }
    head = *parsed;
  }
  if (parser.parseGreater())
    return {};
  return ModelType::get(parser.getContext(), arch, head);
}

void ModelType::print(AsmPrinter &printer) const {
  printer << '<' << getArch();
  if (getHead() != ::hone::HeadKind::LM)
    printer << ", " << ::hone::keywordOf(::hone::kHeadKinds, getHead());
  printer << '>';
}

bool DatasetType::hasPrompts() const {
  return getLayout() != ColumnLayout::text;
}

bool DatasetType::hasCompletions() const {
  switch (getLayout()) {
  case ColumnLayout::text:
  case ColumnLayout::messages:
  case ColumnLayout::prompt_completion:
  case ColumnLayout::prompt_answer:
    return true;
  case ColumnLayout::preference:
  case ColumnLayout::unpaired_preference:
  case ColumnLayout::prompt_only:
    return false;
  }
  return false;
}

void HoneDialect::registerTypes() {
  addTypes<
#define GET_TYPEDEF_LIST
#include "dialect/HoneTypes.cpp.inc"
      >();
}
