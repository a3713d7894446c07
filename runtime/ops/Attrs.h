// Attrs.h — each row of runtime/abi/step_ops.inl as a typed C++ struct, and
// the decoder that fills it from the call's JSON (docs/abi.md). Internal to
// the runtime (runtime/ops/Ops.h includes it).
//
// An op body reads its attributes as fields: `c.attrs<abi::OpId::generate>()`
// returns `Attrs<abi::OpId::generate>` with `int64_t n`, `double temperature`,
// `std::optional<std::vector<std::string>> stop`, ... A misspelt or
// mis-typed read is a compile error, and a row's attribute list is the
// struct's field list, so the table and the op bodies cannot drift. Field
// types by KIND and NEED:
//   I64 int64_t, F64 double, BOOL bool, STR std::string, STRS
//   std::vector<std::string>, I64S std::vector<int64_t>, F64S
//   std::vector<double>, OBJ const json::Value * (never null when REQ);
//   OPT wraps the type in std::optional (OBJ: null when absent).
//   UNIT is bool whatever NEED says: an absent unit attribute is false.
// Step rows also have `lane` and `ahead`, train rows `lane` (AbiTable.h's
// kLaneAttr, kAheadAttr).
//
// The call's JSON was checked against the row (checkAttrs in
// runtime/ops/Common.cpp) before the decoder runs, so the decoder only
// converts. The table lists each row's attributes right after the row; a
// static_assert fails the build when an attribute names another row.
#pragma once

#include "runtime/abi/AbiTable.h"
#include "runtime/base/Json.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hone::ops {

/// A JSON number, or "nan", "inf", "-inf" (runtime/ops/Common.cpp).
double asF64(const json::Value &v);

namespace attrs_detail {
template <typename T> struct Opt { using type = std::optional<T>; };
template <> struct Opt<const json::Value *> {
  using type = const json::Value *;
};
template <abi::Kind K> struct Base;
template <> struct Base<abi::Kind::I64> { using type = int64_t; };
template <> struct Base<abi::Kind::F64> { using type = double; };
template <> struct Base<abi::Kind::Bool> { using type = bool; };
template <> struct Base<abi::Kind::Unit> { using type = bool; };
template <> struct Base<abi::Kind::Str> { using type = std::string; };
template <> struct Base<abi::Kind::Strs> {
  using type = std::vector<std::string>;
};
template <> struct Base<abi::Kind::I64s> { using type = std::vector<int64_t>; };
template <> struct Base<abi::Kind::F64s> { using type = std::vector<double>; };
template <> struct Base<abi::Kind::Obj> { using type = const json::Value *; };
template <> struct Base<abi::Kind::Json> { using type = const json::Value *; };
template <abi::Kind K, abi::Need N>
using Field = std::conditional_t<N == abi::Need::Optional &&
                                     K != abi::Kind::Unit,
                                 typename Opt<typename Base<K>::type>::type,
                                 typename Base<K>::type>;

// Conversions of a checked JSON value.
inline void read(const json::Value &v, int64_t &out) { out = v.asInt(); }
inline void read(const json::Value &v, double &out) { out = asF64(v); }
inline void read(const json::Value &v, bool &out) { out = v.asBool(); }
inline void read(const json::Value &v, std::string &out) {
  out = v.asString();
}
inline void read(const json::Value &v, const json::Value *&out) { out = &v; }
template <typename T>
void read(const json::Value &v, std::vector<T> &out) {
  out.clear();
  for (const json::Value &x : v.items()) {
    T t{};
    read(x, t);
    out.push_back(std::move(t));
  }
}
template <typename T>
void read(const json::Value &v, std::optional<T> &out) {
  T t{};
  read(v, t);
  out = std::move(t);
}
/// Sets `out` from member `name` of `o` when present (absent: unchanged).
template <typename T>
void field(const json::Value &o, const char *name, T &out) {
  if (const json::Value *v = o.find(name))
    read(*v, out);
}
} // namespace attrs_detail

/// The attributes every step row accepts besides its own.
struct StepAttrs {
  std::optional<std::string> lane;
  std::optional<int64_t> ahead;
};
/// The attributes every train row accepts besides its own.
struct TrainAttrs {
  std::optional<std::string> lane;
};
struct NoCommonAttrs {};

template <abi::OpId Id> struct Attrs;

// One struct per row: a row's macro closes the previous struct and opens
// its own; the first row closes this placeholder.
struct AttrsTablePlaceholder_ {
#define HONE_ABI_ROW_(id, common)                                              \
  }                                                                            \
  ;                                                                            \
  template <> struct Attrs<abi::OpId::id> : common {                           \
    static constexpr abi::OpId kId = abi::OpId::id;
#define HONE_ABI_OBJECT(id, op, objects) HONE_ABI_ROW_(id, NoCommonAttrs)
#define HONE_ABI_STEP(id, op, objects) HONE_ABI_ROW_(id, StepAttrs)
#define HONE_ABI_TRAIN(id, op, objects) HONE_ABI_ROW_(id, TrainAttrs)
#define HONE_ABI_STAGE(id, op, objects) HONE_ABI_ROW_(id, NoCommonAttrs)
#define HONE_ABI_ATTR(id, name, kind, need, from)                              \
  static_assert(kId == abi::OpId::id,                                          \
                "runtime/abi/step_ops.inl: attribute '" #name                  \
                "' must follow its own row");                                  \
  attrs_detail::Field<abi::detail::kind, abi::detail::need> name{};
#include "runtime/abi/step_ops.inl"
#undef HONE_ABI_ROW_
};

/// Fills a row's struct from the call's (checked) JSON.
template <abi::OpId Id> Attrs<Id> decodeAttrs(const json::Value &o);

namespace attrs_detail {
inline void common(const json::Value &o, StepAttrs &a) {
  field(o, "lane", a.lane);
  field(o, "ahead", a.ahead);
}
inline void common(const json::Value &o, TrainAttrs &a) {
  field(o, "lane", a.lane);
}
inline void common(const json::Value &, NoCommonAttrs &) {}
} // namespace attrs_detail

// As above: a row's macro ends the previous decoder (`return a; }`) and
// begins its own; the first row ends this placeholder.
inline int attrsDecoderPlaceholder_() {
  int a = 0;
#define HONE_ABI_ROW_(id)                                                      \
  return a;                                                                    \
  }                                                                            \
  template <>                                                                  \
  inline Attrs<abi::OpId::id> decodeAttrs<abi::OpId::id>(                      \
      const json::Value &o) {                                                  \
    Attrs<abi::OpId::id> a;                                                    \
    attrs_detail::common(o, a);
#define HONE_ABI_OBJECT(id, op, objects) HONE_ABI_ROW_(id)
#define HONE_ABI_STEP(id, op, objects) HONE_ABI_ROW_(id)
#define HONE_ABI_TRAIN(id, op, objects) HONE_ABI_ROW_(id)
#define HONE_ABI_STAGE(id, op, objects) HONE_ABI_ROW_(id)
#define HONE_ABI_ATTR(id, name, kind, need, from)                              \
  attrs_detail::field(o, #name, a.name);
#include "runtime/abi/step_ops.inl"
#undef HONE_ABI_ROW_
  return a;
}


// --- settings objects (runtime/abi/settings.inl) ------------------------------
// `Setting<abi::SettingsId::optimizer>` has `double lr`, `std::string
// schedule`, ...: field types as above. The runtime obtains one with
// settingsOf<Id>(job, loc, json) (runtime/ops/Ops.h), which checks the
// object against its rows first.

template <abi::SettingsId Id> struct Setting;

struct SettingsTablePlaceholder_ {
#define HONE_SETTINGS(id, attr)                                                \
  }                                                                            \
  ;                                                                            \
  template <> struct Setting<abi::SettingsId::id> {                            \
    static constexpr abi::SettingsId kId = abi::SettingsId::id;
#define HONE_SETTING(id, name, kind, need)                                     \
  static_assert(kId == abi::SettingsId::id,                                    \
                "runtime/abi/settings.inl: setting '" #name                    \
                "' must follow its own row");                                  \
  attrs_detail::Field<abi::detail::kind, abi::detail::need> name{};
#define HONE_SETTING_OBJ(id, name, need, of)                                   \
  HONE_SETTING(id, name, OBJ, need)
#include "runtime/abi/settings.inl"
};

template <abi::SettingsId Id> Setting<Id> decodeSetting(const json::Value &o);

inline int settingsDecoderPlaceholder_() {
  int a = 0;
#define HONE_SETTINGS(id, attr)                                                \
  return a;                                                                    \
  }                                                                            \
  template <>                                                                  \
  inline Setting<abi::SettingsId::id> decodeSetting<abi::SettingsId::id>(      \
      const json::Value &o) {                                                  \
    Setting<abi::SettingsId::id> a;
#define HONE_SETTING(id, name, kind, need)                                     \
  attrs_detail::field(o, #name, a.name);
#define HONE_SETTING_OBJ(id, name, need, of)                                   \
  attrs_detail::field(o, #name, a.name);
#include "runtime/abi/settings.inl"
  return a;
}

} // namespace hone::ops
