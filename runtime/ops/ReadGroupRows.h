// The row bookkeeping of a fused read group (hone-fuse-forwards'
// `fused_reads`, runtime/ops/TrainStep.cpp): the members' token rows
// concatenated into one forward batch, the forward's per-token outputs
// split back into each member's rows, and the members' upstream gradients
// gathered into the forward's layout for its one backward. Templated on the
// element type so that test/unit/model/FusedReadsTest.cpp checks this very
// code on a float64 model against separate forwards and backwards.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace hone::ops {

/// One member of a group in one forward: its token rows [B, T] (row-major)
/// and their lengths, of which rows [b0, b0 + n) run; their outputs and
/// upstream gradients are the member's rows [first, first + n) of `own`
/// values each (T for per-token outputs, 1 for a reward).
struct GroupMember {
  const int32_t *tokens = nullptr;
  const int32_t *lengths = nullptr;
  int64_t T = 0, b0 = 0, n = 0, first = 0, own = 0;
};

/// The group's forward batch: every member's rows in member order, each
/// padded with token 0 from its own T to `width` (the longest member's T;
/// its length bounds what the model computes, so it is causal-exact), and
/// their lengths.
inline void concatGroupRows(const std::vector<GroupMember> &members,
                            int64_t width, std::vector<int32_t> &tokens,
                            std::vector<int32_t> &lengths) {
  tokens.clear();
  lengths.clear();
  for (const GroupMember &m : members) {
    for (int64_t b = m.b0; b < m.b0 + m.n; ++b) {
      tokens.insert(tokens.end(), m.tokens + b * m.T, m.tokens + (b + 1) * m.T);
      tokens.insert(tokens.end(), size_t(width - m.T), 0);
    }
    lengths.insert(lengths.end(), m.lengths + m.b0, m.lengths + m.b0 + m.n);
  }
}

/// Splits a group forward's output `v` (one row of `wide` values per
/// forward row, members in order) into the members' outputs: member q's
/// forward row b gives its first `own` values to out[q] at row first + b.
template <typename T>
void scatterGroupRows(const T *v, int64_t wide,
                      const std::vector<GroupMember> &members,
                      const std::vector<T *> &out) {
  int64_t from = 0;
  for (size_t q = 0; q < members.size(); ++q) {
    const GroupMember &m = members[q];
    for (int64_t b = 0; b < m.n; ++b, from += wide)
      std::copy(v + from, v + from + m.own, out[q] + (m.first + b) * m.own);
  }
}

/// The reverse, for the one backward: the members' upstream gradients `in`
/// (rows of `own` values) into `d`, one row of `wide` values per forward
/// row, 0 past each member's own values (positions the forward yielded as
/// 0). `d` holds (sum of n) x wide values.
template <typename T>
void gatherGroupRows(T *d, int64_t wide,
                     const std::vector<GroupMember> &members,
                     const std::vector<const T *> &in) {
  int64_t at = 0;
  for (size_t q = 0; q < members.size(); ++q) {
    const GroupMember &m = members[q];
    for (int64_t b = 0; b < m.n; ++b, at += wide) {
      const T *row = in[q] + (m.first + b) * m.own;
      std::copy(row, row + m.own, d + at);
      std::fill(d + at + m.own, d + at + wide, T(0));
    }
  }
}

} // namespace hone::ops
