#!/bin/sh
# Data-parallel ranks vs one process on the same cores: the SFT example
# sized up (d_model 256, 4 layers, 60 epochs), compiled twice with the same
# global batch: hardware.ranks=2 with batch_size 4 per rank, run as
# `mpirun -np 2` with 1 thread per rank, against one rank with batch_size 8
# and 2 threads. Prints each wall time (RUNS runs each, alternating) and the
# ratio one-rank / two-ranks of the medians (> 1: ranks faster).
#   bench/ranks/run.sh [BUILD_DIR] [RUNS]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}; runs=${2:-3}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
spec=$root/examples/sft/spec.textproto
set -- "models[0].init.d_model=256" "models[0].init.layers=4" \
  "stages[0].sft.loop.epochs=60" "models[0].init.max_seq_len=128"
"$build/bin/honec" "$spec" "$@" hardware.ranks=2 --compile-to=exe -o "$work/two"
"$build/bin/honec" "$spec" "$@" stages[0].sft.loop.batch_size=8 \
  --compile-to=exe -o "$work/one"
t() { s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
ones=""; twos=""
i=0
while [ $i -lt "$runs" ]; do
  rm -rf "$work/r1" "$work/r2"
  ones="$ones $(t "$work/one" --out "$work/r1" --threads 2 --progress off)"
  twos="$twos $(t mpirun -np 2 "$work/two" --out "$work/r2" --threads 1 --progress off)"
  i=$((i + 1))
done
med() { echo "$@" | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m1=$(med $ones); m2=$(med $twos)
echo "one rank x 2 threads: ms$ones (median $m1)"
echo "two ranks x 1 thread: ms$twos (median $m2)"
awk -v a="$m1" -v b="$m2" 'BEGIN {printf "ratio one/two: %.3f (> 1: ranks faster)\n", a / b}'
