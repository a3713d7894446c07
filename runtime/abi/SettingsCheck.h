// SettingsCheck.h — one check of a settings object (a typed attribute of
// dialect/HoneSettings.td written as JSON) against its rows of
// runtime/abi/settings.inl, on runtime/base's JSON. The compiler runs it on
// what it writes into a job (passes/ConvertHoneToRuntime.cpp) and the runtime
// on what it reads (runtime/ops/Common.cpp), so both take the same members,
// kinds and messages. Header-only, part of the contract (docs/abi.md).
#ifndef HONE_RUNTIME_ABI_SETTINGSCHECK_H
#define HONE_RUNTIME_ABI_SETTINGSCHECK_H

#include "runtime/abi/AbiTable.h"
#include "runtime/base/Json.h"

#include <string>

namespace hone::abi {

/// Whether `v` is a JSON value of kind `k` (a float may be written as the
/// strings "nan", "inf" or "-inf", which JSON cannot spell).
inline bool isKind(const json::Value &v, Kind k) {
  auto isF64 = [](const json::Value &x) {
    return x.isNumber() ||
           (x.isString() && (x.asString() == "nan" || x.asString() == "inf" ||
                             x.asString() == "-inf"));
  };
  auto all = [&](auto pred) {
    if (!v.isArray())
      return false;
    for (const json::Value &x : v.items())
      if (!pred(x))
        return false;
    return true;
  };
  switch (k) {
  case Kind::I64: return v.isInt();
  case Kind::F64: return isF64(v);
  case Kind::Bool:
  case Kind::Unit: return v.isBool();
  case Kind::Str: return v.isString();
  case Kind::Strs:
    return all([](const json::Value &x) { return x.isString(); });
  case Kind::I64s:
    return all([](const json::Value &x) { return x.isInt(); });
  case Kind::F64s: return all(isF64);
  case Kind::Obj: return v.isObject();
  case Kind::Json: return true;
  }
  return false;
}

/// Member `key` of object `o`; a null member counts as absent.
inline const json::Value *member(const json::Value &o, const char *key) {
  const json::Value *v = o.isObject() ? o.find(key) : nullptr;
  return v && !v->isNull() ? v : nullptr;
}

/// Checks settings object `o` against its rows: every required member
/// present with its kind, optional ones of their kind, nothing the rows do
/// not list. Returns the first disagreement, or "". Nested objects are
/// checked by their own rows; `path` names the object in messages
/// ("tokenizer.chars.").
inline std::string checkSettings(SettingsId id, const json::Value &o,
                                 const std::string &path = "") {
  if (!o.isObject())
    return path.empty() ? std::string("settings must be a JSON object")
                        : "setting '" + path.substr(0, path.size() - 1) +
                              "' must be an object";
  std::string bad = checkSettingNames(
      id, path, [&](const char *name) { return member(o, name) != nullptr; },
      [&](auto f) {
        for (const auto &[k, v] : o.members())
          f(k);
      });
  if (!bad.empty())
    return bad;
  for (const SettingRow &f : kSettingFields) {
    const json::Value *v = f.of == id ? member(o, f.name) : nullptr;
    if (!v)
      continue;
    if (!isKind(*v, f.kind)) {
      std::string got = json::serialize(*v);
      if (got.size() > 40) // cut as runtime/ops' clip() does
        got = got.substr(0, 40) + "... (" + std::to_string(got.size()) +
              " bytes)";
      return "setting '" + path + f.name + "' must be " + kindName(f.kind) +
             ", got " + got;
    }
    if (f.object >= 0) // a settings object itself
      if (std::string in =
              checkSettings(SettingsId(f.object), *v, path + f.name + ".");
          !in.empty())
        return in;
  }
  return "";
}

/// checkSettings on JSON text.
inline std::string checkSettingsText(SettingsId id, std::string_view text) {
  Expected<json::Value> v = json::parse(text);
  if (!v)
    return "not JSON: " + v.status().message();
  return checkSettings(id, *v);
}

} // namespace hone::abi

#endif // HONE_RUNTIME_ABI_SETTINGSCHECK_H
