#!/bin/sh
# run_compiled.sh HONEC SPEC WORKDIR STEPS [override ...]
# Compiles SPEC to WORKDIR/job (timed), runs it with --out WORKDIR/run and
# checks exit code 0 and STEPS training-step rows (the ones with a "stage";
# evaluation rows have none) in metrics.jsonl.
set -u
honec=$1; spec=$2; work=$3; steps=$4; shift 4
link="$(dirname "$honec")/../lib/hone-link.txt"
if [ ! -f "$link" ]; then
  echo "skip: $link missing (hone_runtime not built here)"; exit 77
fi
rm -rf "$work"; mkdir -p "$work"
start=$(date +%s%N)
"$honec" "$spec" "$@" --compile-to=exe -o "$work/job" --timings || exit 1
end=$(date +%s%N)
echo "honec: $(( (end - start) / 1000000 )) ms"
if [ $(( (end - start) / 1000000 )) -gt 5000 ]; then
  echo "error: honec took over 5 s"; exit 1
fi
cd "$work" && ./job --device cpu --out "$work/run" || { echo "error: job failed ($?)"; exit 1; }
metrics=$(find "$work/run" -name metrics.jsonl | head -n 1)
[ -n "$metrics" ] || { echo "error: no metrics.jsonl under $work/run"; exit 1; }
n=$(grep -c '"stage"' "$metrics")
if [ "$n" -ne "$steps" ]; then
  echo "error: $metrics has $n steps, expected $steps"; exit 1
fi
echo "ok: $n steps"
