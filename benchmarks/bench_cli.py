"""Repeat-run wall time of every CLI command against the import floor.

For each command: one warm-up run (fills the caches: JAX's compilation cache and dynsim's
serialized-job cache, both under one ``DYNSIM_CACHE_DIR``), then ``--repeats`` repeat runs, each
a fresh process with the same cache directory; the median is the repeat-run time. The import
floor is ``python -c "import dynsim"`` (median of ``--repeats``), measured in the same run, and
the ratio says how far a repeat run is above it. The load of a shared machine drifts, so the floor
is measured again with every command (one run per round of repeats, between the command's runs)
and each command's ratio is to its own floor.

    python benchmarks/bench_cli.py [--repeats 3] [--only basin-map] [--name cli] [--tree before=DIR]

Wall time on a shared machine swings with the load; the CPU time (user + system) of each run is
recorded too and moves much less. ``--tree LABEL=DIR`` (repeatable) measures another copy of the
sources as well (``DIR`` holding ``dynsim/`` and ``cli.py``, first on ``PYTHONPATH``), its runs
alternating with the current tree's, each tree with its own cache directory: before/after tables
under the same load. Prints the tables and writes benchmarks/results/<name>.json (default ``cli``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write

ROOT = Path(__file__).resolve().parent.parent
DUFFING = str(ROOT / "examples" / "duffing.py") + ":Duffing"

COMMANDS: dict[str, list[str]] = {
    "phase-portrait": ["phase-portrait"],
    "phase-portrait duffing": ["phase-portrait", "--model", DUFFING, "--window", "-2:2,-1.5:1.5"],
    "basin-map": ["basin-map"],
    "basin-map --grid 128": ["basin-map", "--grid", "128"],
    "basin-map duffing --grid 128": ["basin-map", "--model", DUFFING, "--window", "-2:2,-2:2", "--grid", "128"],
    "sweep bifurcation": ["sweep", "bifurcation", "--over", "eta=1e-4:0.3:31:log"],
    "continuation eigen1d": ["continuation", "--model", "eigen1d", "--over", "eta=1e-6:0.5:log"],
    "simulate byol": ["simulate", "byol"],
    "stepwise": ["stepwise"],
}


#: The warm library time of a command: its job run twice in one process (``cli.main``, the same
#: arguments), the second run's ``timing_s`` from its .json record (the job: the library's work from
#: the options to the arrays; the figure: drawing it; the write: figure, .npz and .json files).
WARM = r"""
import json, sys, time
from pathlib import Path
import cli
argv, out = sys.argv[2:], Path(sys.argv[1])
for i in range(2):
    t = time.perf_counter()
    if cli.main([*argv, "--out", str(out / str(i))]) != 0:
        sys.exit(1)
    total = time.perf_counter() - t
record = json.loads(next((out / "1").glob("*.json")).read_text())
print(json.dumps({**record["timing_s"], "total": total}))
"""


def warm(argv: list[str], env: dict, out: Path) -> dict:
    """The second in-process run's ``timing_s`` (job, figure, write) and its total, in seconds."""
    r = subprocess.run([sys.executable, "-c", WARM, str(out), *argv], env=env, capture_output=True, text=True,
                       timeout=900, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"warm run of {' '.join(argv)} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _record_timing(out: Path) -> dict:
    return json.loads(next(out.glob("*.json")).read_text()).get("timing_s", {})


#: What the installed ``dynsim`` script runs, for any tree: its entry point (``cli.entry``, or
#: ``cli.main`` in a tree from before it existed), the arguments from ``sys.argv``.
LAUNCH = "import sys, cli; entry = getattr(cli, 'entry', None); sys.exit(entry() if entry else cli.main())"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(argv: list[str], env: dict, timeout: float = 900) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``argv``."""
    c, t = _children_cpu(), time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    wall, cpu = time.perf_counter() - t, _children_cpu() - c
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {r.returncode}):\n{r.stderr[-2000:]}")
    return wall, cpu


class Tree:
    """One copy of the sources: its environment (cache directory, PYTHONPATH) and its numbers."""

    def __init__(self, label: str, tmp: Path, source: Path | None):
        self.label = label
        self.env = {**os.environ, "DYNSIM_CACHE_DIR": str(tmp / f"cache-{label}")}
        self.env.pop("XLA_FLAGS", None)
        if source is not None:
            self.env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.out = tmp / f"out-{label}"


def _median(runs, k):
    return statistics.median(r[k] for r in runs)


def _row(label, cmd, first, runs, floor_runs, warm_run=None, repeat_timing=None):
    med, cpu = _median(runs, 0), _median(runs, 1)
    floor = (_median(floor_runs, 0), _median(floor_runs, 1))
    row = {"command": label, "argv": ["dynsim", *cmd], "first_s": round(first[0], 3), "first_cpu_s": round(first[1], 3),
           "repeat_s": [round(r[0], 3) for r in runs], "repeat_cpu_s": [round(r[1], 3) for r in runs],
           "repeat_median_s": round(med, 3), "repeat_median_cpu_s": round(cpu, 3),
           "floor_s": round(floor[0], 3), "floor_cpu_s": round(floor[1], 3),
           "ratio": round(med / floor[0], 2), "cpu_ratio": round(cpu / floor[1], 2)}
    if warm_run is not None:
        # issue 16's target: a repeat run within its import floor + 1.5 x its warm library time + 1 s (the figure)
        budget = floor[0] + 1.5 * warm_run["job"] + 1.0
        row.update({"warm_job_s": round(warm_run["job"], 3), "warm_figure_s": round(warm_run["figure"], 3),
                    "warm_write_s": round(warm_run["write"], 3), "budget_s": round(budget, 3),
                    "over_budget_s": round(med - budget, 3), "within_budget": bool(med <= budget),
                    "repeat_timing_s": repeat_timing})
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", action="append", help="run only the commands whose label starts with this")
    ap.add_argument("--name", default="cli", help="results file: benchmarks/results/NAME.json")
    ap.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                    help="another source tree (dynsim/, cli.py) to measure alongside (repeatable)")
    args = ap.parse_args()
    if shutil.which("dynsim", path=str(Path(sys.executable).parent)) is None:
        sys.exit("install dynsim first (pip install -e .)")
    commands = {k: v for k, v in COMMANDS.items() if not args.only or any(k.startswith(o) for o in args.only)}
    with tempfile.TemporaryDirectory() as tmp:
        trees = [Tree(label, Path(tmp), Path(d).resolve()) for label, _, d in (t.partition("=") for t in args.tree)]
        trees.append(Tree("current", Path(tmp), None))
        floor_runs = {t.label: [] for t in trees}
        for _ in range(args.repeats):
            for t in trees:
                floor_runs[t.label].append(timed([sys.executable, "-c", "import dynsim"], t.env))
        floor = {k: (_median(v, 0), _median(v, 1)) for k, v in floor_runs.items()}
        for k, (w, c) in floor.items():
            print(f"[{k}] import floor: {w:.2f} s wall, {c:.2f} s cpu", flush=True)
        rows = {t.label: [] for t in trees}
        for i, (label, cmd) in enumerate(commands.items()):
            first, runs, local_floor = {}, {t.label: [] for t in trees}, []
            for t in trees:
                first[t.label] = timed([sys.executable, "-c", LAUNCH, *cmd, "--out", str(t.out / str(i))], t.env)
            for _ in range(args.repeats):
                for t in trees:
                    runs[t.label].append(timed([sys.executable, "-c", LAUNCH, *cmd, "--out", str(t.out / str(i))], t.env))
                local_floor.append(timed([sys.executable, "-c", "import dynsim"], trees[-1].env))
            for t in trees:
                current = t is trees[-1]
                r = _row(label, cmd, first[t.label], runs[t.label], local_floor,
                         warm(cmd, t.env, t.out / f"warm{i}") if current else None,
                         _record_timing(t.out / str(i)) if current else None)
                rows[t.label].append(r)
                print(f"[{t.label}] {label:<30} first {r['first_s']:6.2f} s  repeat {r['repeat_median_s']:6.2f} s "
                      f"({', '.join(f'{x:.2f}' for x in r['repeat_s'])}), cpu {r['repeat_median_cpu_s']:6.2f} s; "
                      f"{r['ratio']:.2f} x floor {r['floor_s']:.2f} s ({r['cpu_ratio']:.2f} x in cpu)", flush=True)
                if current:
                    verdict = "within" if r["within_budget"] else f"over by {r['over_budget_s']:.2f} s"
                    print(f"    warm job {r['warm_job_s']:.2f} s, figure {r['warm_figure_s']:.2f} s, write "
                          f"{r['warm_write_s']:.2f} s; budget floor + 1.5 x job + 1 s = {r['budget_s']:.2f} s: "
                          f"{verdict}; a repeat run's own timing {r['repeat_timing_s']}", flush=True)
    for t in trees:
        w, c = floor[t.label]
        print(f"\n[{t.label}] import floor {w:.2f} s wall, {c:.2f} s cpu")
        print(f"{'command':<30} {'first':>7} {'repeat':>7} {'floor':>6} {'ratio':>6} {'cpu':>7} {'floor':>6} {'ratio':>6}"
              f" {'warm':>6} {'budget':>7}")
        for r in rows[t.label]:
            print(f"{r['command']:<30} {r['first_s']:>6.2f}s {r['repeat_median_s']:>6.2f}s {r['floor_s']:>5.2f}s "
                  f"{r['ratio']:>5.2f}x {r['repeat_median_cpu_s']:>6.2f}s {r['floor_cpu_s']:>5.2f}s {r['cpu_ratio']:>5.2f}x"
                  + (f" {r['warm_job_s']:>5.2f}s {r['budget_s']:>6.2f}s {'ok' if r['within_budget'] else 'over'}"
                     if "budget_s" in r else ""))
    result = {"what": "repeat-run time of each command (median of fresh processes after a warm-up run, same "
                      "DYNSIM_CACHE_DIR) against the import floor (python -c 'import dynsim'), wall and cpu; the budget of issue 16: floor + "
                      "1.5 x the warm library time (the job's second run in one process) + 1 s",
              "repeats": args.repeats, "load_average_at_end": os.getloadavg()}
    result["import_floor_s"] = round(floor["current"][0], 3)
    result["import_floor_cpu_s"] = round(floor["current"][1], 3)
    result["commands"] = rows["current"]
    if len(trees) > 1:
        result["trees"] = {t.label: {"source": args.tree[i].partition("=")[2], "import_floor_s": round(floor[t.label][0], 3),
                                     "import_floor_cpu_s": round(floor[t.label][1], 3), "commands": rows[t.label]}
                           for i, t in enumerate(trees[:-1])}
    write(args.name, result)


if __name__ == "__main__":
    main()
