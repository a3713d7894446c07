// The BPE model: merges applied lowest rank first to one pre-token (a heap
// over adjacent pairs), unk and byte fallback.
#include "runtime/tokenizer/TokenizerImpl.h"

#include "runtime/base/Utf8.h"

#include <queue>

namespace hone {

using namespace tok;

namespace {
struct Sym {
  int32_t id;
  int32_t prev, next;
  uint32_t len;
};
struct MergeCand {
  int32_t rank;
  int32_t pos;
  int32_t newId;
  bool operator<(const MergeCand &o) const { // min-heap on (rank, pos)
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};
} // namespace

void Tokenizer::Impl::bpeWord(std::string_view text, const Piece &p,
                              size_t base, EncodeOut &out) const {
  const ByteTable &bt = byteTable();
  std::string_view body = text.substr(p.start, p.end - p.start);
  auto emit = [&](int32_t id, size_t a, size_t b) {
    // a, b in piece coordinates (including the virtual prefix byte).
    size_t shift = p.prefix ? 1 : 0;
    size_t s = a > shift ? a - shift : 0, e = b > shift ? b - shift : 0;
    out.push(id, base + p.start + s, base + p.start + e);
  };
  // The word as the model's vocabulary spells it.
  if (ignoreMerges) {
    std::string word;
    if (byteLevel) {
      if (p.prefix)
        appendUtf8(word, bt.byteToCp[' ']);
      for (unsigned char c : body)
        appendUtf8(word, bt.byteToCp[c]);
    } else {
      if (p.prefix)
        word += ' ';
      word.append(body);
    }
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      emit(it->second, 0, body.size() + (p.prefix ? 1 : 0));
      return;
    }
  }
  // Scratch buffers reused across words (bpeWord is not re-entered).
  thread_local std::vector<Sym> syms;
  thread_local std::vector<MergeCand> heap;
  syms.clear();
  heap.clear();
  std::optional<std::pair<int32_t, uint32_t>> unk;
  auto addSym = [&](int32_t id, uint32_t len) {
    if (unk) {
      syms.push_back({unk->first, 0, 0, unk->second});
      unk.reset();
    }
    syms.push_back({id, 0, 0, len});
  };
  auto missing = [&](std::string_view bytes) {
    if (byteFallback) {
      bool all = true;
      for (unsigned char c : bytes)
        all = all && byteFallbackId[c] >= 0;
      if (all) {
        for (unsigned char c : bytes)
          addSym(byteFallbackId[c], 1);
        return;
      }
    }
    if (!unkId)
      return; // dropped, as Hugging Face does without an unk token
    auto len = static_cast<uint32_t>(bytes.size());
    if (unk && fuseUnk) {
      unk->second += len;
    } else {
      if (unk)
        syms.push_back({unk->first, 0, 0, unk->second});
      unk = std::make_pair(*unkId, len);
    }
  };
  if (byteLevel) {
    if (p.prefix) {
      if (byteId[' '] >= 0)
        addSym(byteId[' '], 1);
      else
        missing(" ");
    }
    for (size_t i = 0; i < body.size(); ++i) {
      auto c = static_cast<unsigned char>(body[i]);
      if (byteId[c] >= 0)
        addSym(byteId[c], 1);
      else
        missing(body.substr(i, 1));
    }
  } else {
    std::string buf = p.prefix ? " " + std::string(body) : std::string(body);
    for (size_t i = 0; i < buf.size();) {
      size_t n =
          std::min(utf8SequenceLength(static_cast<unsigned char>(buf[i])),
                   buf.size() - i);
      auto it = vocab.find(buf.substr(i, n));
      if (it != vocab.end())
        addSym(it->second, static_cast<uint32_t>(n));
      else
        missing(std::string_view(buf).substr(i, n));
      i += n;
    }
  }
  if (unk)
    syms.push_back({unk->first, 0, 0, unk->second});
  auto n = static_cast<int32_t>(syms.size());
  for (int32_t i = 0; i < n; ++i) {
    syms[i].prev = i - 1;
    syms[i].next = i + 1 < n ? i + 1 : -1;
  }
  for (int32_t i = 0; i + 1 < n; ++i) {
    if (const PairMap::Value *m =
            merges.find(pairKey(syms[i].id, syms[i + 1].id)))
      heap.push_back({m->first, i, m->second});
  }
  std::make_heap(heap.begin(), heap.end());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end());
    MergeCand top = heap.back();
    heap.pop_back();
    Sym &cur = syms[top.pos];
    if (cur.len == 0 || cur.next == -1)
      continue;
    int32_t nextPos = cur.next;
    Sym right = syms[nextPos];
    const PairMap::Value *mm = merges.find(pairKey(cur.id, right.id));
    if (!mm || mm->second != top.newId)
      continue;
    cur.id = top.newId;
    cur.len += right.len;
    cur.next = right.next;
    syms[nextPos].len = 0;
    if (right.next >= 0)
      syms[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (const PairMap::Value *m =
              merges.find(pairKey(syms[cur.prev].id, cur.id))) {
        heap.push_back({m->first, cur.prev, m->second});
        std::push_heap(heap.begin(), heap.end());
      }
    }
    if (cur.next >= 0) {
      if (const PairMap::Value *m =
              merges.find(pairKey(cur.id, syms[cur.next].id))) {
        heap.push_back({m->first, top.pos, m->second});
        std::push_heap(heap.begin(), heap.end());
      }
    }
  }
  size_t at = 0;
  for (const Sym &s : syms) {
    if (s.len == 0)
      continue;
    emit(s.id, at, at + s.len);
    at += s.len;
  }
}

} // namespace hone
