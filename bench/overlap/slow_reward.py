#!/usr/bin/env python3
"""An external reward process with latency (a verifier service or a code
sandbox): reads {"prompt", "completion", "answer"} lines, waits
HONE_BENCH_REWARD_DELAY seconds (default 0.01), answers {"reward": 1 or 0}
(exact match after stripping, as the grpo example's verifier)."""
import json
import os
import sys
import time

delay = float(os.environ.get("HONE_BENCH_REWARD_DELAY", "0.01"))
for line in sys.stdin:
    r = json.loads(line)
    time.sleep(delay)
    ok = r.get("completion", "").strip() == str(r.get("answer", "")).strip()
    sys.stdout.write(json.dumps({"reward": 1.0 if ok else 0.0}) + "\n")
    sys.stdout.flush()
