#!/bin/sh
# bench/gemm/run.sh [BUILD_DIR] [ROUNDS]: hone_bench_gemm with OpenBLAS's
# kernels as detected, then forced to SkylakeX and to Haswell (OpenBLAS reads
# OPENBLAS_CORETYPE when it is loaded, so each needs its own process).
set -eu
build=${1:-build}
rounds=${2:-3}
date -u
lscpu | grep -E '^(Model name|CPU family|Model|CPU\(s\)):'
for f in avx512f avx512_bf16 amx_bf16; do
  grep -qw "$f" /proc/cpuinfo && echo "flag: $f" || true
done
for ct in "" SkylakeX Haswell; do
  echo "== OPENBLAS_CORETYPE=${ct:-(unset)}"
  if [ -n "$ct" ]; then
    OPENBLAS_CORETYPE=$ct "$build/bin/hone_bench_gemm" --rounds "$rounds"
  else
    "$build/bin/hone_bench_gemm" --rounds "$rounds"
  fi
done
