// Attention kernels: causal self-attention forward (writing the softmax
// probabilities the interface keeps for the backward), its backward, and
// attention of new rows against a KV cache.
//
// One scheme throughout, tiled in shared memory:
// - a block of 4 warps owns up to 4*R rows of one side (queries in the
//   forward and decode, queries for dQ, keys for dK/dV); each warp owns R rows;
// - the other side streams through shared memory in tiles of BK rows; lane l
//   of every warp computes the dot products of tile row l with the warp's R
//   rows (float4 reads; the tile's rows are padded by 4 floats so that the
//   lanes of a quarter-warp hit distinct banks);
// - weighted sums over a tile (P V, dS K, P^T dO, dS^T Q) go through a per-warp
//   shared row of weights; lane l accumulates head dimensions l, l+32, ... in
//   registers (HDMAX/32 per row).
// Every sum runs in a fixed order and nothing is accumulated with atomics, so
// results are deterministic. Template instances by head dimension:
// <=64, <=128 and <=256 with 32-row tiles, <=1024 with 16-row tiles.
//
// The forward makes two passes over the keys: the first finds each row's
// max and softmax denominator, the second writes the normalised
// probabilities and accumulates P V (no rescaling). The backward uses the
// stored probabilities: kernel 1 computes D_i = sum_j P_ij dP_ij and dQ per
// query row, kernel 2 dK and dV per key row, summing the heads of a KV group
// in head order (GQA) so that dqkv is written, not accumulated.
//
// Packed (padding-free) batches (kernels/Kernels.h, AttentionShape::offsets):
// with `offsets` non-null, blockIdx.z's sequence is rows offsets[b] ..
// offsets[b+1]-1 of qkv/out/dout/dqkv, of length T <= TP (the padded length
// the grid is sized for); blocks whose rows lie past its end return before
// any barrier. Its probabilities are nH blocks of T x T (row stride T) from
// element nH * sum_{b' < b} T_b'^2 on (probsAt); padded, slots [b, h, TP, TP].
#include "kernels/cuda/CudaCommon.cuh"
#include "kernels/cuda/CudaLaunch.h"

#include <climits>
#include <cmath>

namespace hone {
namespace cuda {
namespace {

constexpr int kAttnWarps = 4;
constexpr int kAttnThreads = kAttnWarps * 32;

template <int HDMAX_, int R_, int BK_> struct AttnCfg {
  static constexpr int HDMAX = HDMAX_, R = R_, BK = BK_;
};

__device__ __forceinline__ int padHd(int hd) { return (hd + 3) & ~3; }

/// Where head h of sequence b keeps its probabilities (row stride: T packed,
/// TP padded; kernels/Kernels.h AttentionShape::probsBase).
__device__ __forceinline__ int64_t probsAt(const int32_t *offsets, int b,
                                           int h, int nH, int TP, int T) {
  if (!offsets)
    return (int64_t(b) * nH + h) * int64_t(TP) * TP;
  int64_t n = 0;
  for (int i = 0; i < b; ++i) {
    const int64_t l = offsets[i + 1] - offsets[i];
    n += l * l;
  }
  return n * nH + int64_t(h) * T * T;
}

/// dst[row * dstStride + d] = src[row * srcStride + d] for row < nValid and
/// d < hd, else 0; rows < nRows, d < HDP. All threads of the block take part.
__device__ void loadRows(float *dst, int dstStride, const float *src,
                         int64_t srcStride, int nRows, int nValid, int hd,
                         int HDP) {
  for (int idx = threadIdx.x; idx < nRows * HDP; idx += blockDim.x) {
    int row = idx / HDP, d = idx - row * HDP;
    float v = 0.f;
    if (row < nValid && d < hd)
      v = src[int64_t(row) * srcStride + d];
    dst[row * dstStride + d] = v;
  }
}

/// s[r] = dot(A row r, brow) over HDP (a multiple of 4) for the R rows A,
/// A + HDP, ... (broadcast reads) against this lane's row brow.
template <int R>
__device__ __forceinline__ void rowDots(const float *A, const float *brow,
                                        int HDP, float (&s)[R]) {
#pragma unroll
  for (int r = 0; r < R; ++r)
    s[r] = 0.f;
  for (int d = 0; d < HDP; d += 4) {
    const float4 b = *reinterpret_cast<const float4 *>(brow + d);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float4 a = *reinterpret_cast<const float4 *>(A + r * HDP + d);
      s[r] = fmaf(a.x, b.x, s[r]);
      s[r] = fmaf(a.y, b.y, s[r]);
      s[r] = fmaf(a.z, b.z, s[r]);
      s[r] = fmaf(a.w, b.w, s[r]);
    }
  }
}

/// acc[r][c] += sum_{jj < BK} W[r * BK + jj] * M[jj * mStride + lane + 32c]
/// for the head dimensions this lane owns (below HDP).
template <int R, int C, int BK>
__device__ __forceinline__ void accumulateRows(const float *W, const float *M,
                                               int mStride, int HDP, int lane,
                                               float (&acc)[R][C]) {
  for (int jj = 0; jj < BK; jj += 4) {
    float4 w[R];
#pragma unroll
    for (int r = 0; r < R; ++r)
      w[r] = *reinterpret_cast<const float4 *>(W + r * BK + jj);
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int d = lane + 32 * c;
      if (d < HDP) {
        const float m0 = M[jj * mStride + d], m1 = M[(jj + 1) * mStride + d];
        const float m2 = M[(jj + 2) * mStride + d];
        const float m3 = M[(jj + 3) * mStride + d];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float a = acc[r][c];
          a = fmaf(w[r].x, m0, a);
          a = fmaf(w[r].y, m1, a);
          a = fmaf(w[r].z, m2, a);
          a = fmaf(w[r].w, m3, a);
          acc[r][c] = a;
        }
      }
    }
  }
}

// --- forward -------------------------------------------------------------------

template <int HDMAX, int R, int BK>
__global__ void __launch_bounds__(kAttnThreads)
    attnForwardKernel(const float *__restrict__ qkv,
                      const int32_t *__restrict__ offsets, int TP, int nH,
                      int nKv, int hd, float scale, float *__restrict__ probs,
                      float *__restrict__ out) {
  constexpr int BQ = kAttnWarps * R, C = HDMAX / 32;
  extern __shared__ float4 smem4[];
  float *sm = reinterpret_cast<float *>(smem4);
  const int HDP = padHd(hd), KSTR = HDP + 4;
  float *Qs = sm, *Ks = Qs + BQ * HDP, *Vs = Ks + BK * KSTR,
        *Ps = Vs + BK * HDP;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nQT = (TP + BQ - 1) / BQ;
  const int q0 = (nQT - 1 - int(blockIdx.x)) * BQ; // longest rows first
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (nH / nKv);
  const int64_t row0 = offsets ? int64_t(offsets[b]) : int64_t(b) * TP;
  const int T = offsets ? offsets[b + 1] - offsets[b] : TP;
  const int PS = offsets ? T : TP; // the probabilities' row stride
  if (q0 >= T) // past a packed sequence's end: the whole block
    return;
  const int64_t ld = int64_t(nH + 2 * nKv) * hd, ldo = int64_t(nH) * hd;
  const float *seq = qkv + row0 * ld;
  const float *Qg = seq + int64_t(h) * hd;
  const float *Kg = seq + int64_t(nH + kvh) * hd;
  const float *Vg = seq + int64_t(nH + nKv + kvh) * hd;
  float *P = probs + probsAt(offsets, b, h, nH, TP, T);

  loadRows(Qs, HDP, Qg + int64_t(q0) * ld, ld, BQ, min(BQ, T - q0), hd, HDP);
  const int nKT = (min(q0 + BQ, T) - 1) / BK + 1; // tiles up to the diagonal
  const float *Qw = Qs + warp * R * HDP;
  float *Pw = Ps + warp * R * BK;
  const float *Krow = Ks + min(lane, BK - 1) * KSTR;
  int qi[R];
  float mrow[R], lrow[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    qi[r] = q0 + warp * R + r;
    mrow[r] = -INFINITY;
    lrow[r] = 0.f;
  }

  // Pass 1: row max and softmax denominator (online over key tiles).
  for (int kt = 0; kt < nKT; ++kt) {
    const int j0 = kt * BK, j = j0 + lane;
    __syncthreads();
    loadRows(Ks, KSTR, Kg + int64_t(j0) * ld, ld, BK, min(BK, T - j0), hd, HDP);
    __syncthreads();
    float s[R];
    rowDots<R>(Qw, Krow, HDP, s);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const bool valid = lane < BK && qi[r] < T && j <= qi[r];
      const float x = valid ? s[r] * scale : -INFINITY;
      const float mNew = fmaxf(mrow[r], warpAllReduce(x, MaxOp()));
      if (mNew == -INFINITY) // warp-uniform: nothing valid yet
        continue;
      const float e = valid ? expf(x - mNew) : 0.f;
      lrow[r] = lrow[r] * expf(mrow[r] - mNew) + warpAllReduce(e, SumOp());
      mrow[r] = mNew;
    }
  }

  // Pass 2: normalised probabilities (stored) and P V.
  float inv[R], acc[R][C];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    inv[r] = lrow[r] > 0.f ? 1.f / lrow[r] : 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c)
      acc[r][c] = 0.f;
  }
  for (int kt = 0; kt < nKT; ++kt) {
    const int j0 = kt * BK, j = j0 + lane, nv = min(BK, T - j0);
    __syncthreads();
    loadRows(Ks, KSTR, Kg + int64_t(j0) * ld, ld, BK, nv, hd, HDP);
    loadRows(Vs, HDP, Vg + int64_t(j0) * ld, ld, BK, nv, hd, HDP);
    __syncthreads();
    float s[R];
    rowDots<R>(Qw, Krow, HDP, s);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const bool valid = lane < BK && qi[r] < T && j <= qi[r];
      const float p = valid ? expf(s[r] * scale - mrow[r]) * inv[r] : 0.f;
      if (lane < BK) {
        Pw[r * BK + lane] = p;
        if (qi[r] < T && j < T)
          P[int64_t(qi[r]) * PS + j] = p;
      }
    }
    __syncwarp();
    accumulateRows<R, C, BK>(Pw, Vs, HDP, HDP, lane, acc);
    __syncwarp();
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (qi[r] >= T)
      continue;
    for (int j = nKT * BK + lane; j < T; j += 32) // above the diagonal
      P[int64_t(qi[r]) * PS + j] = 0.f;
    float *o = out + (row0 + qi[r]) * ldo + int64_t(h) * hd;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int d = lane + 32 * c;
      if (d < hd)
        o[d] = acc[r][c];
    }
  }
}

// --- backward ------------------------------------------------------------------

/// Per query row i of head h: D_i = sum_j P_ij dP_ij (kept in Dbuf for
/// kernel 2) and dQ_i = scale * sum_j P_ij (dP_ij - D_i) K_j (written).
template <int HDMAX, int R, int BK>
__global__ void __launch_bounds__(kAttnThreads)
    attnBackwardQKernel(const float *__restrict__ qkv,
                        const float *__restrict__ probs,
                        const float *__restrict__ dout,
                        const int32_t *__restrict__ offsets, int TP, int nH,
                        int nKv, int hd, float scale, float *__restrict__ dqkv,
                        float *__restrict__ Dbuf) {
  constexpr int BQ = kAttnWarps * R, C = HDMAX / 32;
  extern __shared__ float4 smem4[];
  float *sm = reinterpret_cast<float *>(smem4);
  const int HDP = padHd(hd), KSTR = HDP + 4;
  float *dOs = sm, *Vs = dOs + BQ * HDP, *Ks = Vs + BK * KSTR,
        *dSs = Ks + BK * HDP;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nQT = (TP + BQ - 1) / BQ;
  const int q0 = (nQT - 1 - int(blockIdx.x)) * BQ;
  const int h = blockIdx.y, b = blockIdx.z, kvh = h / (nH / nKv);
  const int64_t row0 = offsets ? int64_t(offsets[b]) : int64_t(b) * TP;
  const int T = offsets ? offsets[b + 1] - offsets[b] : TP;
  const int PS = offsets ? T : TP; // the probabilities' row stride
  if (q0 >= T)
    return;
  const int64_t ld = int64_t(nH + 2 * nKv) * hd, ldo = int64_t(nH) * hd;
  const float *seq = qkv + row0 * ld;
  const float *Kg = seq + int64_t(nH + kvh) * hd;
  const float *Vg = seq + int64_t(nH + nKv + kvh) * hd;
  const float *P = probs + probsAt(offsets, b, h, nH, TP, T);

  loadRows(dOs, HDP, dout + (row0 + q0) * ldo + int64_t(h) * hd, ldo, BQ,
           min(BQ, T - q0), hd, HDP);
  const int nKT = (min(q0 + BQ, T) - 1) / BK + 1;
  const float *dOw = dOs + warp * R * HDP;
  float *dSw = dSs + warp * R * BK;
  const float *Vrow = Vs + min(lane, BK - 1) * KSTR;
  int qi[R];
  float D[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    qi[r] = q0 + warp * R + r;
    D[r] = 0.f;
  }

  // Pass 1: D_i.
  for (int kt = 0; kt < nKT; ++kt) {
    const int j0 = kt * BK, j = j0 + lane;
    __syncthreads();
    loadRows(Vs, KSTR, Vg + int64_t(j0) * ld, ld, BK, min(BK, T - j0), hd, HDP);
    __syncthreads();
    float dp[R];
    rowDots<R>(dOw, Vrow, HDP, dp);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const bool valid = lane < BK && qi[r] < T && j <= qi[r];
      if (valid)
        D[r] = fmaf(P[int64_t(qi[r]) * PS + j], dp[r], D[r]);
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r)
    D[r] = warpAllReduce(D[r], SumOp());

  // Pass 2: dS and dQ.
  float acc[R][C];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int c = 0; c < C; ++c)
      acc[r][c] = 0.f;
  for (int kt = 0; kt < nKT; ++kt) {
    const int j0 = kt * BK, j = j0 + lane, nv = min(BK, T - j0);
    __syncthreads();
    loadRows(Vs, KSTR, Vg + int64_t(j0) * ld, ld, BK, nv, hd, HDP);
    loadRows(Ks, HDP, Kg + int64_t(j0) * ld, ld, BK, nv, hd, HDP);
    __syncthreads();
    float dp[R];
    rowDots<R>(dOw, Vrow, HDP, dp);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const bool valid = lane < BK && qi[r] < T && j <= qi[r];
      const float p = valid ? P[int64_t(qi[r]) * PS + j] : 0.f;
      if (lane < BK)
        dSw[r * BK + lane] = valid ? p * (dp[r] - D[r]) : 0.f;
    }
    __syncwarp();
    accumulateRows<R, C, BK>(dSw, Ks, HDP, HDP, lane, acc);
    __syncwarp();
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (qi[r] >= T)
      continue;
    float *dq = dqkv + (row0 + qi[r]) * ld + int64_t(h) * hd;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int d = lane + 32 * c;
      if (d < hd)
        dq[d] = scale * acc[r][c];
    }
    if (lane == 0)
      Dbuf[(int64_t(b) * nH + h) * TP + qi[r]] = D[r];
  }
}

/// Per key row j of KV head g: dV_j = sum_h sum_i P_ij dO_i and
/// dK_j = scale * sum_h sum_i dS_ij Q_i over the group's heads h (in order)
/// and the query rows i >= j; both written.
template <int HDMAX, int R, int BK>
__global__ void __launch_bounds__(kAttnThreads)
    attnBackwardKVKernel(const float *__restrict__ qkv,
                         const float *__restrict__ probs,
                         const float *__restrict__ dout,
                         const float *__restrict__ Dbuf,
                         const int32_t *__restrict__ offsets, int TP, int nH,
                         int nKv, int hd, float scale,
                         float *__restrict__ dqkv) {
  constexpr int BKV = kAttnWarps * R, C = HDMAX / 32;
  extern __shared__ float4 smem4[];
  float *sm = reinterpret_cast<float *>(smem4);
  const int HDP = padHd(hd), KSTR = HDP + 4;
  float *Vk = sm, *dOs = Vk + BKV * HDP, *Qs = dOs + BK * KSTR,
        *Ws = Qs + BK * HDP, *dSs = Ws + BKV * BK;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int k0 = int(blockIdx.x) * BKV, g = blockIdx.y, b = blockIdx.z;
  const int group = nH / nKv;
  const int64_t row0 = offsets ? int64_t(offsets[b]) : int64_t(b) * TP;
  const int T = offsets ? offsets[b + 1] - offsets[b] : TP;
  const int PS = offsets ? T : TP; // the probabilities' row stride
  if (k0 >= T)
    return;
  const int64_t ld = int64_t(nH + 2 * nKv) * hd, ldo = int64_t(nH) * hd;
  const float *seq = qkv + row0 * ld;

  loadRows(Vk, HDP, seq + int64_t(k0) * ld + int64_t(nH + nKv + g) * hd, ld,
           BKV, min(BKV, T - k0), hd, HDP);
  const float *Vw = Vk + warp * R * HDP;
  float *Ww = Ws + warp * R * BK, *dSw = dSs + warp * R * BK;
  const float *dOrow = dOs + min(lane, BK - 1) * KSTR;
  int kj[R];
  float dv[R][C], dk[R][C];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    kj[r] = k0 + warp * R + r;
#pragma unroll
    for (int c = 0; c < C; ++c)
      dv[r][c] = dk[r][c] = 0.f;
  }
  for (int hh = 0; hh < group; ++hh) {
    const int h = g * group + hh;
    const float *P = probs + probsAt(offsets, b, h, nH, TP, T);
    const float *Drow = Dbuf + (int64_t(b) * nH + h) * TP;
    for (int i0 = k0 / BK * BK; i0 < T; i0 += BK) {
      const int i = i0 + lane, nv = min(BK, T - i0);
      __syncthreads();
      loadRows(dOs, KSTR, dout + (row0 + i0) * ldo + int64_t(h) * hd, ldo, BK,
               nv, hd, HDP);
      loadRows(Qs, HDP, seq + int64_t(i0) * ld + int64_t(h) * hd, ld, BK, nv,
               hd, HDP);
      __syncthreads();
      float dp[R];
      rowDots<R>(Vw, dOrow, HDP, dp); // dP_ij = dO_i . V_j
      const bool rowOk = lane < BK && i < T;
      const float Di = rowOk ? Drow[i] : 0.f;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const bool valid = rowOk && kj[r] <= i;
        const float p = valid ? P[int64_t(i) * PS + kj[r]] : 0.f;
        if (lane < BK) {
          Ww[r * BK + lane] = p;
          dSw[r * BK + lane] = valid ? p * (dp[r] - Di) : 0.f;
        }
      }
      __syncwarp();
      accumulateRows<R, C, BK>(Ww, dOs, KSTR, HDP, lane, dv);
      accumulateRows<R, C, BK>(dSw, Qs, HDP, HDP, lane, dk);
      __syncwarp();
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (kj[r] >= T)
      continue;
    float *row = dqkv + (row0 + kj[r]) * ld;
    float *dK = row + int64_t(nH + g) * hd, *dV = row + int64_t(nH + nKv + g) * hd;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int d = lane + 32 * c;
      if (d < hd) {
        dK[d] = scale * dk[r][c];
        dV[d] = dv[r][c];
      }
    }
  }
}

// --- KV-cache attention ----------------------------------------------------------

__global__ void kvWriteKernel(const float *__restrict__ qkv, int64_t batch,
                              int64_t newLen, int nH, int nKv, int hd,
                              const int32_t *__restrict__ start,
                              int64_t cacheLen, float *__restrict__ kCache,
                              float *__restrict__ vCache) {
  const int64_t ld = int64_t(nH + 2 * nKv) * hd;
  const int64_t total = batch * newLen * nKv * hd;
  HONE_GRID_STRIDE(idx, total) {
    int64_t t = idx;
    const int d = int(t % hd);
    t /= hd;
    const int g = int(t % nKv);
    t /= nKv;
    const int64_t i = t % newLen, b = t / newLen;
    const int64_t p = start[b] + i;
    const float *row = qkv + (b * newLen + i) * ld;
    kCache[((b * nKv + g) * hd + d) * cacheLen + p] = row[int64_t(nH + g) * hd + d];
    vCache[((b * nKv + g) * cacheLen + p) * hd + d] =
        row[int64_t(nH + nKv + g) * hd + d];
  }
}

/// Rows of one block: (query i, head of KV group g) pairs, head fastest, so
/// the heads sharing K/V read each cache tile once. One pass with an online
/// softmax (no probabilities are kept).
template <int HDMAX, int R, int BK>
__global__ void __launch_bounds__(kAttnThreads)
    attnDecodeKernel(const float *__restrict__ qkv, int newLen, int nH, int nKv,
                     int hd, float scale, const int32_t *__restrict__ start,
                     int cacheLen, const float *__restrict__ kCache,
                     const float *__restrict__ vCache, float *__restrict__ out) {
  constexpr int BQ = kAttnWarps * R, C = HDMAX / 32;
  extern __shared__ float4 smem4[];
  float *sm = reinterpret_cast<float *>(smem4);
  const int HDP = padHd(hd), KSTR = HDP + 4;
  float *Qs = sm, *Ks = Qs + BQ * HDP, *Vs = Ks + BK * KSTR,
        *Ps = Vs + BK * HDP;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int group = nH / nKv, rowsTotal = group * newLen;
  const int rr0 = int(blockIdx.x) * BQ, g = blockIdx.y, b = blockIdx.z;
  const int64_t ld = int64_t(nH + 2 * nKv) * hd, ldo = int64_t(nH) * hd;
  const int st = start[b];

  for (int idx = threadIdx.x; idx < BQ * HDP; idx += blockDim.x) {
    const int rl = idx / HDP, d = idx - rl * HDP, rr = rr0 + rl;
    float v = 0.f;
    if (rr < rowsTotal && d < hd) {
      const int i = rr / group, hh = rr - i * group;
      v = qkv[(int64_t(b) * newLen + i) * ld + int64_t(g * group + hh) * hd + d];
    }
    Qs[rl * HDP + d] = v;
  }
  const int lastRow = min(rr0 + BQ, rowsTotal) - 1;
  const int blockKeys = st + lastRow / group + 1; // positions 0 .. blockKeys-1
  const float *Kt = kCache + (int64_t(b) * nKv + g) * hd * int64_t(cacheLen);
  const float *Vc = vCache + (int64_t(b) * nKv + g) * int64_t(cacheLen) * hd;
  const float *Qw = Qs + warp * R * HDP;
  float *Pw = Ps + warp * R * BK;
  const float *Krow = Ks + min(lane, BK - 1) * KSTR;
  int nKeys[R];
  float m[R], l[R], acc[R][C];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int rr = rr0 + warp * R + r;
    nKeys[r] = rr < rowsTotal ? st + rr / group + 1 : 0;
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c)
      acc[r][c] = 0.f;
  }
  for (int p0 = 0; p0 < blockKeys; p0 += BK) {
    const int nv = min(BK, blockKeys - p0), j = p0 + lane;
    __syncthreads();
    // K is cached transposed ([hd, cacheLen]): read along positions.
    for (int idx = threadIdx.x; idx < BK * HDP; idx += blockDim.x) {
      const int jj = idx % BK, d = idx / BK;
      float v = 0.f;
      if (jj < nv && d < hd)
        v = Kt[int64_t(d) * cacheLen + p0 + jj];
      Ks[jj * KSTR + d] = v;
    }
    loadRows(Vs, HDP, Vc + int64_t(p0) * hd, hd, BK, nv, hd, HDP);
    __syncthreads();
    float s[R];
    rowDots<R>(Qw, Krow, HDP, s);
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const bool valid = lane < BK && j < nKeys[r];
      const float x = valid ? s[r] * scale : -INFINITY;
      const float mNew = fmaxf(m[r], warpAllReduce(x, MaxOp()));
      float p = 0.f, corr = 1.f;
      if (mNew != -INFINITY) { // warp-uniform
        p = valid ? expf(x - mNew) : 0.f;
        corr = expf(m[r] - mNew);
      }
      l[r] = l[r] * corr + warpAllReduce(p, SumOp());
      m[r] = mNew;
#pragma unroll
      for (int c = 0; c < C; ++c)
        acc[r][c] *= corr;
      if (lane < BK)
        Pw[r * BK + lane] = p;
    }
    __syncwarp();
    accumulateRows<R, C, BK>(Pw, Vs, HDP, HDP, lane, acc);
    __syncwarp();
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int rr = rr0 + warp * R + r;
    if (rr >= rowsTotal)
      continue;
    const int i = rr / group, h = g * group + (rr - i * group);
    const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
    float *o = out + (int64_t(b) * newLen + i) * ldo + int64_t(h) * hd;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int d = lane + 32 * c;
      if (d < hd)
        o[d] = acc[r][c] * inv;
    }
  }
}

// --- launches --------------------------------------------------------------------

/// Calls f(AttnCfg<...>{}) for the instance that covers head dimension hd.
template <typename F> void dispatchHeadDim(int64_t hd, F f) {
  if (hd <= 64)
    f(AttnCfg<64, 4, 32>{});
  else if (hd <= 128)
    f(AttnCfg<128, 4, 32>{});
  else if (hd <= 256)
    f(AttnCfg<256, 2, 32>{});
  else if (hd <= 1024)
    f(AttnCfg<1024, 1, 16>{});
  else
    failShape("attention: head dimension above 1024", __FILE__, __LINE__);
}

/// Allows `bytes` of dynamic shared memory for `kernel` (above the 48 KiB
/// default), or fails with a message when the device has less.
template <typename K> void allowSmem(K kernel, size_t bytes) {
  if (bytes <= 48 * 1024)
    return;
  int dev = 0, optin = 0;
  HONE_CUDA_CHECK(cudaGetDevice(&dev));
  HONE_CUDA_CHECK(cudaDeviceGetAttribute(
      &optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (bytes > size_t(optin))
    failShape("attention: the head dimension needs more shared memory per "
              "block than this device allows",
              __FILE__, __LINE__);
  HONE_CUDA_CHECK(cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

void checkShape(int64_t B, int64_t T, int64_t nH, int64_t nKv, int64_t hd) {
  if (B > 65535 || nH > 65535 || nKv > 65535 || T > (int64_t(1) << 30) ||
      nKv <= 0 || nH % nKv || (nH + 2 * nKv) * hd > INT_MAX)
    failShape("attention: shape outside what the CUDA kernels support "
              "(batch and heads <= 65535, nHeads a multiple of nKvHeads)",
              __FILE__, __LINE__);
}

size_t sharedFloats(int BQ, int BK, int HDP, int extraRows) {
  // BQ rows (HDP) + BK rows (HDP+4) + BK rows (HDP) + extra + BQ*BK weights
  return size_t(BQ) * HDP + size_t(BK) * (HDP + 4) + size_t(BK) * HDP +
         size_t(extraRows) + size_t(BQ) * BK;
}

} // namespace

void attentionForward(cudaStream_t stream, const float *qkv, int64_t B,
                      int64_t T, int64_t nH, int64_t nKv, int64_t hd,
                      const int32_t *offsets, float *probs, float *out) {
  if (B <= 0 || T <= 0 || nH <= 0 || hd <= 0)
    return;
  checkShape(B, T, nH, nKv, hd);
  const float scale = 1.0f / sqrtf(float(hd));
  const int HDP = int((hd + 3) & ~int64_t(3));
  dispatchHeadDim(hd, [&](auto cfg) {
    using Cfg = decltype(cfg);
    constexpr int BQ = kAttnWarps * Cfg::R;
    auto kernel = attnForwardKernel<Cfg::HDMAX, Cfg::R, Cfg::BK>;
    const size_t bytes = sizeof(float) * sharedFloats(BQ, Cfg::BK, HDP, 0);
    allowSmem(kernel, bytes);
    dim3 grid(unsigned((T + BQ - 1) / BQ), unsigned(nH), unsigned(B));
    kernel<<<grid, kAttnThreads, bytes, stream>>>(
        qkv, offsets, int(T), int(nH), int(nKv), int(hd), scale, probs, out);
    HONE_CUDA_LAUNCH_CHECK("attnForwardKernel");
  });
}

void attentionBackward(cudaStream_t stream, const float *qkv,
                       const float *probs, const float *dout, int64_t B,
                       int64_t T, int64_t nH, int64_t nKv, int64_t hd,
                       const int32_t *offsets, float *dqkv, float *rowScratch) {
  if (B <= 0 || T <= 0 || nH <= 0 || hd <= 0)
    return;
  checkShape(B, T, nH, nKv, hd);
  const float scale = 1.0f / sqrtf(float(hd));
  const int HDP = int((hd + 3) & ~int64_t(3));
  dispatchHeadDim(hd, [&](auto cfg) {
    using Cfg = decltype(cfg);
    constexpr int BQ = kAttnWarps * Cfg::R, BK = Cfg::BK;
    auto kq = attnBackwardQKernel<Cfg::HDMAX, Cfg::R, BK>;
    const size_t bq = sizeof(float) * sharedFloats(BQ, BK, HDP, 0);
    allowSmem(kq, bq);
    dim3 gq(unsigned((T + BQ - 1) / BQ), unsigned(nH), unsigned(B));
    kq<<<gq, kAttnThreads, bq, stream>>>(qkv, probs, dout, offsets, int(T),
                                         int(nH), int(nKv), int(hd), scale,
                                         dqkv, rowScratch);
    HONE_CUDA_LAUNCH_CHECK("attnBackwardQKernel");

    // Kernel 2: BKV key rows (HDP), a BK-row dO tile (HDP+4), a BK-row Q
    // tile (HDP) and two BKV x BK weight arrays.
    auto kkv = attnBackwardKVKernel<Cfg::HDMAX, Cfg::R, BK>;
    const size_t bkv =
        sizeof(float) * (size_t(BQ) * HDP + size_t(BK) * (HDP + 4) +
                         size_t(BK) * HDP + 2 * size_t(BQ) * BK);
    allowSmem(kkv, bkv);
    dim3 gkv(unsigned((T + BQ - 1) / BQ), unsigned(nKv), unsigned(B));
    kkv<<<gkv, kAttnThreads, bkv, stream>>>(qkv, probs, dout, rowScratch,
                                            offsets, int(T), int(nH), int(nKv),
                                            int(hd), scale, dqkv);
    HONE_CUDA_LAUNCH_CHECK("attnBackwardKVKernel");
  });
}

void attentionDecode(cudaStream_t stream, const float *qkv, int64_t batch,
                     int64_t newLen, int64_t nH, int64_t nKv, int64_t hd,
                     const int32_t *start, int64_t cacheLen, float *kCache,
                     float *vCache, float *out) {
  if (batch <= 0 || newLen <= 0 || nH <= 0 || hd <= 0)
    return;
  checkShape(batch, newLen, nH, nKv, hd);
  if (cacheLen > INT_MAX || (nH / nKv) * newLen > INT_MAX)
    failShape("attentionCached: cache length or rows above INT_MAX", __FILE__,
              __LINE__);
  const int64_t n = batch * newLen * nKv * hd;
  kvWriteKernel<<<gridFor(n), kThreads, 0, stream>>>(
      qkv, batch, newLen, int(nH), int(nKv), int(hd), start, cacheLen, kCache,
      vCache);
  HONE_CUDA_LAUNCH_CHECK("kvWriteKernel");
  const float scale = 1.0f / sqrtf(float(hd));
  const int HDP = int((hd + 3) & ~int64_t(3));
  const int64_t rowsTotal = (nH / nKv) * newLen;
  dispatchHeadDim(hd, [&](auto cfg) {
    using Cfg = decltype(cfg);
    constexpr int BQ = kAttnWarps * Cfg::R;
    auto kernel = attnDecodeKernel<Cfg::HDMAX, Cfg::R, Cfg::BK>;
    const size_t bytes = sizeof(float) * sharedFloats(BQ, Cfg::BK, HDP, 0);
    allowSmem(kernel, bytes);
    dim3 grid(unsigned((rowsTotal + BQ - 1) / BQ), unsigned(nKv),
              unsigned(batch));
    kernel<<<grid, kAttnThreads, bytes, stream>>>(
        qkv, int(newLen), int(nH), int(nKv), int(hd), scale, start,
        int(cacheLen), kCache, vCache, out);
    HONE_CUDA_LAUNCH_CHECK("attnDecodeKernel");
  });
}

} // namespace cuda
} // namespace hone
