"""Wall time of the main command, cold (empty compilation cache) and warm (repeat run).

Targets (issue 2): under 15 s cold and under 3 s warm on a 2-core machine.
    python benchmarks/bench_cli.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write

COMMAND = ["phase-portrait", "--eta", "4e-4", "--sigma", "1"]


def run_once(script: str, out: Path, env: dict) -> float:
    t = time.perf_counter()
    subprocess.run([script, *COMMAND, "--out", str(out)], check=True, env=env, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    script = shutil.which("dynsim", path=str(Path(sys.executable).parent)) or shutil.which("dynsim")
    if script is None:
        sys.exit("install dynsim first (pip install .)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DYNSIM_CACHE_DIR": str(Path(tmp) / "cache")}
        cold = run_once(script, Path(tmp) / "out", env)
        warm = [run_once(script, Path(tmp) / "out", env) for _ in range(args.repeats)]
    result = {
        "command": "dynsim " + " ".join(COMMAND),
        "cold_s": round(cold, 3),
        "warm_s": [round(w, 3) for w in warm],
        "warm_median_s": round(statistics.median(warm), 3),
        "cold_over_warm": round(cold / statistics.median(warm), 2),
        "targets": {"cold_s": 15.0, "warm_s": 3.0},
    }
    print(f"cold {cold:.2f} s, warm median {result['warm_median_s']:.2f} s "
          f"(ratio {result['cold_over_warm']:.2f}); targets < 15 s / < 3 s")
    write("cli", result)


if __name__ == "__main__":
    main()
