#!/bin/sh
# run_compiled.sh HONEC SPEC WORKDIR STEPS CHECK [override ...]
# Compiles SPEC to WORKDIR/job (the time printed), runs it with --out
# WORKDIR/run and checks exit code 0, STEPS training-step rows (the ones
# with a "stage"; evaluation rows have none) in metrics.jsonl, and the
# learning signal CHECK (and that each training row carries "stage_name" and
# "models", the spec names of its stage and models):
#   falls:METRIC   mean of METRIC over the last quarter of the rows that
#                  have it is below the mean over the first quarter
#   rises:METRIC   ... above it
#   none           no signal checked
#   has:KEY        a row (training or evaluation) logs KEY
#   rows:KEY=N     exactly N rows log KEY (e.g. an evaluation's every_steps)
#   file:PATH      the run directory holds PATH
#   lanes:same     the job run with --lanes on (steps on lane threads,
#                  ordered by events) and with --lanes off (every step in
#                  order on the main thread) logs the same metrics (but
#                  tokens_per_sec) and saves bit-identical weights
# Several checks are separated by commas.
set -u
honec=$1; spec=$2; work=$3; steps=$4; check=$5; shift 5
link="$(dirname "$honec")/../lib/hone-link.txt"
if [ ! -f "$link" ]; then
  echo "skip: $link missing (hone_runtime not built here)"; exit 77
fi
rm -rf "$work"; mkdir -p "$work"
start=$(date +%s%N)
"$honec" "$spec" "$@" --compile-to=exe -o "$work/job" --timings || exit 1
end=$(date +%s%N)
# Reported, not asserted: tests never assert timings (the machine is shared;
# bench/ measures compile time).
echo "honec: $(( (end - start) / 1000000 )) ms"
cd "$work" && ./job --device cpu --out "$work/run" || { echo "error: job failed ($?)"; exit 1; }
metrics=$(find "$work/run" -name metrics.jsonl | head -n 1)
[ -n "$metrics" ] || { echo "error: no metrics.jsonl under $work/run"; exit 1; }
n=$(grep -c '"stage"' "$metrics")
if [ "$n" -ne "$steps" ]; then
  echo "error: $metrics has $n steps, expected $steps"; exit 1
fi
echo "ok: $n steps"
# Every training row names its stage and the stage's models (spec names).
untagged=$(grep '"stage"' "$metrics" | grep -v -c '"stage_name":"[^"]*","models":\["[^"]')
if [ "$untagged" -ne 0 ]; then
  echo "error: $untagged training rows lack stage_name or models"; exit 1
fi
check_one() {
dir=${1%%:*}; metric=${1#*:}
if [ "$dir" = lanes ]; then
  for m in on off; do
    (cd "$work" && ./job --device cpu --out "$work/lanes-$m" --lanes $m \
       --progress off >/dev/null) || { echo "error: job --lanes $m failed"; exit 1; }
    # Measurements vary by run; the planned peak holds the lane threads'
    # row (runtime.lanes) only when steps run on lanes.
    sed -E 's/"tokens_per_sec":[^,}]*,?//; s/"memory\/(measured_peak_bytes|resident_peak_bytes|runtime_startup_bytes|arena_touched_bytes|arena_populate_seconds|planned_peak_bytes)":[^,}]*,?//g' "$work/lanes-$m/metrics.jsonl" \
      > "$work/lanes-$m.jsonl"
  done
  diff "$work/lanes-on.jsonl" "$work/lanes-off.jsonl" | head -n 5
  cmp -s "$work/lanes-on.jsonl" "$work/lanes-off.jsonl" ||
    { echo "error: metrics differ between --lanes on and off"; exit 1; }
  nw=0
  for w in $(cd "$work/lanes-on" && find . -name '*.safetensors'); do
    cmp -s "$work/lanes-on/$w" "$work/lanes-off/$w" ||
      { echo "error: $w differs between --lanes on and off"; exit 1; }
    nw=$((nw + 1))
  done
  [ "$nw" -gt 0 ] || { echo "error: no weights saved"; exit 1; }
  echo "lanes: metrics and $nw weight files identical with --lanes on and off"
  return
fi
if [ "$dir" = file ]; then
  [ -e "$work/run/$metric" ] || { echo "error: no $metric in the run directory"; exit 1; }
  echo "$metric: present"; return
fi
if [ "$dir" = rows ]; then
  key=${metric%=*}; want=${metric#*=}
  got=$(grep -c "\"$key\":" "$metrics")
  [ "$got" -eq "$want" ] || { echo "error: $got rows log $key, expected $want"; exit 1; }
  echo "$key: $got rows"; return
fi
if [ "$dir" = has ]; then
  grep -q "\"$metric\":" "$metrics" || { echo "error: no row logs $metric"; exit 1; }
  echo "$metric: logged"; return
fi
# The metric's values in step order (training rows only).
grep '"stage"' "$metrics" | awk -v key="\"$metric\":" -v dir="$dir" -v name="$metric" '
  { i = index($0, key); if (i == 0) next
    v = substr($0, i + length(key)); sub(/[,}].*/, "", v); x[n++] = v + 0 }
  END {
    if (n < 4) { printf "error: %d values of %s, need 4\n", n, name; exit 1 }
    q = int(n / 4); a = 0; b = 0
    for (k = 0; k < q; ++k) { a += x[k]; b += x[n - q + k] }
    a /= q; b /= q
    printf "%s: first quarter %.4f, last quarter %.4f (%d values)\n", name, a, b, n
    if ((dir == "falls" && !(b < a)) || (dir == "rises" && !(b > a))) {
      printf "error: %s does not %s\n", name, (dir == "falls" ? "fall" : "rise"); exit 1 }
  }'
[ $? -eq 0 ] || exit 1
}
[ "$check" = none ] && exit 0
for c in $(echo "$check" | tr ',' ' '); do check_one "$c"; done
