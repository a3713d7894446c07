// The row bookkeeping of a fused read group (hone-fuse-forwards'
// `fused_reads`, runtime/ops/TrainStep.cpp) and of a hone.logprob over
// several token batches (runtime/ops/ReadOps.cpp): the members' token rows
// put into one forward batch, the forward's per-token outputs split back
// into each member's rows, and the members' upstream gradients gathered
// into the forward's layout for its one backward. The forward's rows come
// member after member or, where that lets shared prompt rows save more
// (chooseGroupOrder), paired: row b of every member together (DPO's chosen
// and rejected rows of one record, which share their prompt). Templated on
// the element type so that test/unit/model/FusedReadsTest.cpp checks this
// very code on a float64 model against separate forwards and backwards.
#pragma once

#include "runtime/model/Transformer.h"

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

/// Forward row i of a group is member q's row b of this forward (its
/// tokens' row b0 + b, its outputs' row first + b).
struct GroupRow {
  size_t q = 0;
  int64_t b = 0;
};

/// The forward's rows member after member or, `paired` (members of equal
/// row counts), row b of every member together: member 0's row 0, member
/// 1's row 0, ..., member 0's row 1, ...
inline std::vector<GroupRow>
groupRowOrder(const std::vector<GroupMember> &members, bool paired) {
  std::vector<GroupRow> order;
  if (paired) {
    for (int64_t b = 0; b < members[0].n; ++b)
      for (size_t q = 0; q < members.size(); ++q)
        order.push_back({q, b});
    return order;
  }
  for (size_t q = 0; q < members.size(); ++q)
    for (int64_t b = 0; b < members[q].n; ++b)
      order.push_back({q, b});
  return order;
}

/// The group's forward batch: the members' rows in `order`, each padded
/// with token 0 from its own T to `width` (the longest member's T; its
/// length bounds what the model computes, so it is causal-exact), and
/// their lengths.
inline void concatGroupRows(const std::vector<GroupMember> &members,
                            const std::vector<GroupRow> &order, int64_t width,
                            std::vector<int32_t> &tokens,
                            std::vector<int32_t> &lengths) {
  tokens.clear();
  lengths.clear();
  for (const GroupRow &r : order) {
    const GroupMember &m = members[r.q];
    const int64_t b = m.b0 + r.b;
    tokens.insert(tokens.end(), m.tokens + b * m.T, m.tokens + (b + 1) * m.T);
    tokens.insert(tokens.end(), size_t(width - m.T), 0);
    lengths.push_back(m.lengths[b]);
  }
}

/// Member after member (the order without shared prompt rows).
inline void concatGroupRows(const std::vector<GroupMember> &members,
                            int64_t width, std::vector<int32_t> &tokens,
                            std::vector<int32_t> &lengths) {
  concatGroupRows(members, groupRowOrder(members, false), width, tokens,
                  lengths);
}

/// The order of the group's forward rows, with its batch in `tokens` and
/// `lengths`: paired where every member has as many rows (2 or more
/// members) and, `share` (a packed forward sharing prompt rows,
/// ForwardOptions::sharePrefix), pairing saves more rows than member order
/// does (`saved`, sharedPrefixRows on the batch: DPO's chosen and rejected
/// rows of one record start with the same prompt, a batch of rollouts
/// holds each prompt's samples together already); otherwise member after
/// member, as without sharing.
template <typename Saved>
std::vector<GroupRow> chooseGroupOrder(const std::vector<GroupMember> &members,
                                       int64_t width, bool share, Saved saved,
                                       std::vector<int32_t> &tokens,
                                       std::vector<int32_t> &lengths) {
  std::vector<GroupRow> order = groupRowOrder(members, false);
  concatGroupRows(members, order, width, tokens, lengths);
  const bool pairable =
      share && members.size() >= 2 &&
      std::all_of(members.begin(), members.end(), [&](const GroupMember &m) {
        return m.n == members[0].n;
      });
  if (!pairable || members[0].n < 1)
    return order;
  auto batch = [&](const std::vector<int32_t> &t,
                   const std::vector<int32_t> &l) {
    return TokenBatch{int64_t(l.size()), width, t.data(), l.data()};
  };
  const int64_t asMembers = saved(batch(tokens, lengths));
  std::vector<GroupRow> pairs = groupRowOrder(members, true);
  std::vector<int32_t> pt, pl;
  concatGroupRows(members, pairs, width, pt, pl);
  if (saved(batch(pt, pl)) <= asMembers)
    return order;
  tokens.swap(pt);
  lengths.swap(pl);
  return pairs;
}

/// Splits a group forward's output `v` (one row of `wide` values per
/// forward row, in `order`) into the members' outputs: member q's
/// forward row b gives its first `own` values to out[q] at row first + b.
template <typename T>
void scatterGroupRows(const T *v, int64_t wide,
                      const std::vector<GroupMember> &members,
                      const std::vector<GroupRow> &order,
                      const std::vector<T *> &out) {
  int64_t from = 0;
  for (const GroupRow &r : order) {
    const GroupMember &m = members[r.q];
    std::copy(v + from, v + from + m.own, out[r.q] + (m.first + r.b) * m.own);
    from += wide;
  }
}

template <typename T>
void scatterGroupRows(const T *v, int64_t wide,
                      const std::vector<GroupMember> &members,
                      const std::vector<T *> &out) {
  scatterGroupRows(v, wide, members, groupRowOrder(members, false), out);
}

/// The reverse, for the one backward: the members' upstream gradients `in`
/// (rows of `own` values) into `d`, one row of `wide` values per forward
/// row in `order`, 0 past each member's own values (positions the forward
/// yielded as 0). `d` holds (sum of n) x wide values.
template <typename T>
void gatherGroupRows(T *d, int64_t wide,
                     const std::vector<GroupMember> &members,
                     const std::vector<GroupRow> &order,
                     const std::vector<const T *> &in) {
  int64_t at = 0;
  for (const GroupRow &r : order) {
    const GroupMember &m = members[r.q];
    const T *row = in[r.q] + (m.first + r.b) * m.own;
    std::copy(row, row + m.own, d + at);
    std::fill(d + at + m.own, d + at + wide, T(0));
    at += wide;
  }
}

template <typename T>
void gatherGroupRows(T *d, int64_t wide,
                     const std::vector<GroupMember> &members,
                     const std::vector<const T *> &in) {
  gatherGroupRows(d, wide, members, groupRowOrder(members, false), in);
}

} // namespace hone::ops
