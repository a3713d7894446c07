// AbiTable.h — runtime/abi/step_ops.inl as C++ arrays, shared by the
// compiler's lowering and the runtime (docs/abi.md). Plain C++17: no MLIR.
#ifndef HONE_RUNTIME_ABI_ABITABLE_H
#define HONE_RUNTIME_ABI_ABITABLE_H

#include <cstddef>
#include <string_view>

namespace hone::abi {

/// Which entry point carries the op.
enum class Call { Object, Step, Train, Stage };
/// How an attribute's value is written in the JSON.
enum class Kind { I64, F64, Bool, Unit, Str, Strs, I64s, F64s, Obj };
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
               I64S = Kind::I64s, F64S = Kind::F64s, OBJ = Kind::Obj;
constexpr Need REQ = Need::Required, OPT = Need::Optional;
constexpr From ODS = From::Ods, DISC = From::Discardable,
               LOWER = From::Lowering;
} // namespace detail

inline constexpr AttrRow kAttrs[] = {
#define HONE_ABI_ATTR(id, name, kind, need, from)                              \
  {OpId::id, name, detail::kind, detail::need, detail::from},
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
  }
  return "?";
}

} // namespace hone::abi

#endif // HONE_RUNTIME_ABI_ABITABLE_H
