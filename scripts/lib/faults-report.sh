# Summarises run folders of scripts/faults into the markdown table of docs/reliability.md.
# Usage (sourced by scripts/faults): kf_table DIR...
kf_table() {
  python3 - "$@" <<'PY'
import os, re, sys, glob
rows = {}
runs = []
for d in sys.argv[1:]:
    for run in sorted(glob.glob(os.path.join(d, "*"))):
        cmd, chk = os.path.join(run, "command.txt"), os.path.join(run, "check.txt")
        if not (os.path.exists(cmd) and os.path.exists(chk)): continue
        c = open(cmd).read()
        m = re.search(r"nemeses=(.*?) duration=(\d+)s seed=(\d+)", c)
        if not m: continue
        nem, dur, seed = m.group(1), int(m.group(2)), m.group(3)
        summary = [l for l in open(chk).read().splitlines() if l.startswith("ops=")]
        if not summary: continue
        kv = dict(p.split("=", 1) for p in summary[-1].split())
        faults = sum(1 for l in open(os.path.join(run, "faults.txt")) if not l.rstrip().endswith("final-heal")) if os.path.exists(os.path.join(run, "faults.txt")) else 0
        key = "all" if " " in nem else nem
        runs.append((key, os.path.basename(run), dur, seed, kv, faults))
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else 0
print("| nemesis | runs | run length | operations | ok | indeterminate | faults injected | lost | split-brain | outside lease | stale reads | checker verdicts | unavailability p50 / p99 (s) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(set(r[0] for r in runs)):
    rs = [r for r in runs if r[0] == key]
    s = lambda f: sum(int(r[4].get(f, 0)) for r in rs)
    un = [float(r[4].get("max_unavailable_s", 0)) for r in rs]
    lens = sorted(set(("once" if r[2] == 0 else f"{r[2]}s") for r in rs))
    verdicts = f"{sum(1 for r in rs if r[4].get('result') == 'pass')} pass / {sum(1 for r in rs if r[4].get('result') != 'pass')} fail"
    print(f"| {key} | {len(rs)} | {', '.join(lens)} | {s('ops')} | {s('ok')} | {s('indeterminate')} | {sum(r[5] for r in rs)} | {s('lost')} | {s('split_brain')} | {s('outside_lease')} | {s('stale_reads')} | {verdicts} | {pct(un, 50):.2f} / {pct(un, 99):.2f} |")
print()
print("| run folder | seed | verdict | summary |")
print("|---|---|---|---|")
for r in runs:
    print(f"| {r[1]} | {r[3]} | {r[4].get('result')} | ops={r[4].get('ops')} ok={r[4].get('ok')} indeterminate={r[4].get('indeterminate')} lost={r[4].get('lost')} split_brain={r[4].get('split_brain')} max_unavailable_s={r[4].get('max_unavailable_s')} |")
PY
}
