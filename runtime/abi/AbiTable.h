// AbiTable.h — runtime/abi/step_ops.inl as C++ arrays, shared by the
// compiler's lowering and the runtime (docs/abi.md). Plain C++17: no MLIR.
#ifndef HONE_RUNTIME_ABI_ABITABLE_H
#define HONE_RUNTIME_ABI_ABITABLE_H

#include <cstddef>
#include <string>
#include <string_view>

namespace hone::abi {

/// Which entry point carries the op.
enum class Call { Object, Step, Train, Stage };
/// How an attribute's value is written in the JSON.
enum class Kind { I64, F64, Bool, Unit, Str, Strs, I64s, F64s, Obj, Json };
enum class Need { Required, Optional };
/// Where the lowering takes the attribute from.
enum class From { Ods, Discardable, Lowering };

enum class OpId {
#define HONE_ABI_OBJECT(id, op, objects) id,
#define HONE_ABI_STEP(id, op, objects) id,
#define HONE_ABI_TRAIN(id, op, objects) id,
#define HONE_ABI_STAGE(id, op, objects) id,
#include "runtime/abi/step_ops.inl"
};

struct OpRow {
  OpId id;
  const char *name; // without "hone."
  Call call;
  const char *objects;
};

struct AttrRow {
  OpId op;
  const char *name;
  Kind kind;
  Need need;
  From from;
};

inline constexpr OpRow kOps[] = {
#define HONE_ABI_OBJECT(id, op, objects) {OpId::id, op, Call::Object, objects},
#define HONE_ABI_STEP(id, op, objects) {OpId::id, op, Call::Step, objects},
#define HONE_ABI_TRAIN(id, op, objects) {OpId::id, op, Call::Train, objects},
#define HONE_ABI_STAGE(id, op, objects) {OpId::id, op, Call::Stage, objects},
#include "runtime/abi/step_ops.inl"
};

namespace detail {
constexpr Kind I64 = Kind::I64, F64 = Kind::F64, BOOL = Kind::Bool,
               UNIT = Kind::Unit, STR = Kind::Str, STRS = Kind::Strs,
               I64S = Kind::I64s, F64S = Kind::F64s, OBJ = Kind::Obj,
               JSON = Kind::Json;
constexpr Need REQ = Need::Required, OPT = Need::Optional;
constexpr From ODS = From::Ods, DISC = From::Discardable,
               LOWER = From::Lowering;
} // namespace detail

inline constexpr AttrRow kAttrs[] = {
#define HONE_ABI_ATTR(id, name, kind, need, from)                              \
  {OpId::id, #name, detail::kind, detail::need, detail::from},
#include "runtime/abi/step_ops.inl"
};

/// The lane hone-assign-lanes chose: accepted by every Step and Train row.
inline constexpr AttrRow kLaneAttr = {OpId{}, "lane", Kind::Str,
                                      Need::Optional, From::Lowering};
/// Steps ahead of the current one whose row the op's metrics belong to
/// (hone-pipeline-rollouts: a rollout generated k steps early logs its
/// reward at the step that learns from it): accepted by every Step row.
inline constexpr AttrRow kAheadAttr = {OpId{}, "ahead", Kind::I64,
                                       Need::Optional, From::Lowering};

inline constexpr std::size_t kNumOps = sizeof(kOps) / sizeof(kOps[0]);
inline constexpr std::size_t kNumAttrs = sizeof(kAttrs) / sizeof(kAttrs[0]);

/// The row of op `name` (without "hone."), or null.
inline const OpRow *findOp(std::string_view name) {
  for (const OpRow &r : kOps)
    if (name == r.name)
      return &r;
  return nullptr;
}

inline const OpRow &row(OpId id) { return kOps[std::size_t(id)]; }

/// Attribute `name` of `op` as the table lists it (lane included for step
/// and train rows), or null.
inline const AttrRow *findAttr(const OpRow &op, std::string_view name) {
  for (const AttrRow &a : kAttrs)
    if (a.op == op.id && name == a.name)
      return &a;
  if ((op.call == Call::Step || op.call == Call::Train) &&
      name == kLaneAttr.name)
    return &kLaneAttr;
  if (op.call == Call::Step && name == kAheadAttr.name)
    return &kAheadAttr;
  return nullptr;
}

inline const char *kindName(Kind k) {
  switch (k) {
  case Kind::I64: return "an integer";
  case Kind::F64: return "a number";
  case Kind::Bool: return "a bool";
  case Kind::Unit: return "a bool (unit attribute)";
  case Kind::Str: return "a string";
  case Kind::Strs: return "an array of strings";
  case Kind::I64s: return "an array of integers";
  case Kind::F64s: return "an array of numbers";
  case Kind::Obj: return "an object";
  case Kind::Json: return "any JSON value";
  }
  return "?";
}


// --- settings objects (runtime/abi/settings.inl) ------------------------------

enum class SettingsId {
#define HONE_SETTINGS(id, attr) id,
#include "runtime/abi/settings.inl"
};

struct SettingsRow {
  SettingsId id;
  const char *attr; // the dialect attribute, "#hone.arch"
};

struct SettingRow {
  SettingsId of;
  const char *name;
  Kind kind;
  Need need;
  /// An object member (kind Obj): the settings row it is, or -1 for a
  /// free-form object; -2 for other kinds.
  int object;
};

namespace detail::object_of {
constexpr int free = -1;
#define HONE_SETTINGS(id, attr) constexpr int id = int(SettingsId::id);
#include "runtime/abi/settings.inl"
} // namespace detail::object_of

inline constexpr SettingsRow kSettings[] = {
#define HONE_SETTINGS(id, attr) {SettingsId::id, attr},
#include "runtime/abi/settings.inl"
};

inline constexpr SettingRow kSettingFields[] = {
#define HONE_SETTING(id, name, kind, need)                                     \
  {SettingsId::id, #name, detail::kind, detail::need, -2},
#define HONE_SETTING_OBJ(id, name, need, of)                                   \
  {SettingsId::id, #name, Kind::Obj, detail::need, detail::object_of::of},
#include "runtime/abi/settings.inl"
};

inline const SettingsRow &settingsRow(SettingsId id) {
  return kSettings[std::size_t(id)];
}

/// The settings row of dialect attribute `attr` ("#hone.arch"), or null.
inline const SettingsRow *findSettings(std::string_view attr) {
  for (const SettingsRow &r : kSettings)
    if (attr == r.attr)
      return &r;
  return nullptr;
}

/// Checks settings object `o`'s member names against its rows (kinds are
/// for the caller, which has the JSON): returns the first member the rows
/// do not list, or a required one missing, as a message naming it with
/// `path` before it ("tokenizer.chars."); "" when they agree. `has(name)`
/// says whether the object has member `name`; `each(f)` calls f with each
/// member name.
template <typename Has, typename Each>
std::string checkSettingNames(SettingsId id, const std::string &path, Has has,
                              Each each) {
  for (const SettingRow &f : kSettingFields)
    if (f.of == id && f.need == Need::Required && !has(f.name))
      return "missing setting '" + path + f.name + "' (" + kindName(f.kind) +
             ")";
  std::string bad;
  each([&](std::string_view name) {
    if (!bad.empty())
      return;
    for (const SettingRow &f : kSettingFields)
      if (f.of == id && name == f.name)
        return;
    bad = "unknown setting '" + path + std::string(name) +
          "' (runtime/abi/settings.inl lists the members of " +
          settingsRow(id).attr + ")";
  });
  return bad;
}

} // namespace hone::abi

#endif // HONE_RUNTIME_ABI_ABITABLE_H
