#!/usr/bin/env python3
"""report.html in a real browser: compiles the README's SFT -> GRPO example
(examples/arith, few steps), runs it, opens report.html in headless Chromium and checks that
the page logs no console errors and that every chart is drawn (a non-empty
box, and each curve, bar or marker inside it a non-empty box). Keeps a
screenshot as the test's artifact (ARTIFACTS/report.png).

  report_browser.py HONEC SPEC WORK ARTIFACTS

Skipped (exit 77) without Debian's chromium (HONE_SETUP_EXTRAS=1
scripts/setup-deps installs it)."""
import os
import re
import shutil
import subprocess
import sys

honec, spec, work, artifacts = sys.argv[1:5]
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    print("SKIP: no chromium (HONE_SETUP_EXTRAS=1 scripts/setup-deps)")
    sys.exit(77)

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.makedirs(artifacts, exist_ok=True)
job = os.path.join(work, "job")
subprocess.run([honec, spec, "stages[0].sft.loop.steps=12",
                "stages[1].rl.steps=8", "-o", job], check=True)
run = os.path.join(work, "run")
subprocess.run([job, "--device", "cpu", "--out", run], check=True,
               env=dict(os.environ, OMP_NUM_THREADS="1"),
               stdout=subprocess.DEVNULL)
report = os.path.join(run, "report.html")

# The checks run in a page that loads the report in a frame (scripts are
# not part of the report itself) and writes its verdict into the DOM.
check = os.path.join(work, "check.html")
with open(check, "w") as f:
    f.write("""<!DOCTYPE html><html><body><pre id="verdict">pending</pre>
<iframe id="r" src="run/report.html" width="1280" height="4000"></iframe>
<script>
document.getElementById('r').onload = function () {
  var doc = this.contentDocument, out = [];
  var charts = doc.querySelectorAll('svg.chart');
  out.push('charts ' + charts.length);
  charts.forEach(function (svg, i) {
    var box = svg.getBoundingClientRect();
    var name = (svg.getAttribute('class') + ' ' +
                (svg.getAttribute('data-metric') || '')).trim();
    if (!(box.width > 0 && box.height > 0)) out.push('EMPTY ' + name);
    var marks = svg.querySelectorAll(
        'path, rect.task, rect.buffer, rect.stage, circle');
    if (marks.length == 0) out.push('NOMARKS ' + name);
    marks.forEach(function (m) {
      var b = m.getBBox();
      if (!(b.width > 0 || b.height > 0)) out.push('FLAT ' + name);
    });
  });
  document.getElementById('verdict').textContent = out.join('\\n');
};
</script></body></html>""")

flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--allow-file-access-from-files", "--enable-logging=stderr", "--v=0"]
dom = subprocess.run(
    [chromium, *flags, "--virtual-time-budget=5000", "--dump-dom",
     "file://" + check], capture_output=True, text=True, timeout=120)
shot = os.path.join(artifacts, "report.png")
page = subprocess.run(
    [chromium, *flags, "--window-size=1280,3000", "--screenshot=" + shot,
     "file://" + report], capture_output=True, text=True, timeout=120)

errors = []
for log in (dom.stderr, page.stderr):
    errors += [l for l in log.splitlines()
               if "CONSOLE" in l and re.search(r"error|uncaught", l, re.I)]
m = re.search(r'<pre id="verdict">(.*?)</pre>', dom.stdout, re.S)
verdict = m.group(1).strip() if m else "no verdict (page did not load)"
print(verdict)
n = re.match(r"charts (\d+)", verdict)
problems = [l for l in verdict.splitlines()[1:]]
ok = True
if errors:
    print("console errors:\n" + "\n".join(errors)); ok = False
if not n or int(n.group(1)) < 4:
    print("error: expected the stage strip and curves of both stages"); ok = False
if problems:
    print("error: charts not drawn:\n" + "\n".join(problems)); ok = False
if not (os.path.exists(shot) and os.path.getsize(shot) > 10000):
    print("error: no screenshot at " + shot); ok = False
if not ok:
    sys.exit(1)
shutil.copy(report, os.path.join(artifacts, "report.html"))
shutil.rmtree(work, ignore_errors=True)
print("report.html draws in Chromium; screenshot: " + shot)
