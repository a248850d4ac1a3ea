"""`make bench`: run the benchmarks, write bench/results.json and the tables in BENCHMARKS.md.

    python -m bench                       # everything (about 25 minutes on 2 cores)
    python -m bench --only dvc,data       # some of them; the others keep their last figures
    python -m bench --quick               # tiny sizes, for development: written to bench/work/quick/
    python -m bench --threads 1           # OMP_NUM_THREADS for every process (a busy shared machine)

Each benchmark runs in its own process (bench/<module>.py); one that fails is reported as failed
and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from . import report
from .common import REPO, WORK, log

BENCHMARKS = {  # name: module, in the order they run (the most expensive last)
    "dvc": "dvc_overhead",
    "data": "data_prep",
    "training": "training",
    "decoding": "decoding",
    "e2e": "end_to_end",
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (development); results under bench/work/quick/")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for every process (default: the libraries' own)")
    args = parser.parse_args()
    chosen = [b.strip() for b in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose from {', '.join(BENCHMARKS)}")
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)

    out_dir = WORK / "quick" if args.quick else REPO / "bench"
    json_path = out_dir / "results.json"
    md_path = out_dir / "BENCHMARKS.md" if args.quick else REPO / "BENCHMARKS.md"
    previous = json.loads(json_path.read_text()) if json_path.exists() else {}
    sections = previous.get("benchmarks", {}) if previous.get("quick") == args.quick else {}

    start = time.perf_counter()
    for name in (b for b in BENCHMARKS if b in chosen):
        out = WORK / "results" / f"{name}{'-quick' if args.quick else ''}.json"
        out.unlink(missing_ok=True)
        log(f"=== {name} ===")
        cmd = [sys.executable, "-m", f"bench.{BENCHMARKS[name]}", "--out", str(out), *(["--quick"] if args.quick else [])]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO)
        if proc.returncode == 0 and out.exists():
            sections[name] = json.loads(out.read_text())
        else:
            sections[name] = {"error": f"bench.{BENCHMARKS[name]} exited with {proc.returncode} (see its output above)"}
        log(f"=== {name}: {time.perf_counter() - t0:.0f} s ===")

    results = {
        "machine": report.machine(),
        "quick": args.quick,
        "total_minutes": round((time.perf_counter() - start) / 60, 1),
        "benchmarks": {b: sections[b] for b in BENCHMARKS if b in sections},
    }
    report.write(results, json_path, md_path)
    print("\n".join(report.goal_rows(results)))
    log(f"done in {results['total_minutes']} min: {json_path.relative_to(REPO)}, {md_path.relative_to(REPO)}")
    missed = [g["name"] for s in results["benchmarks"].values() for g in s.get("goals", []) if g["passed"] is False]
    failed = [b for b, s in results["benchmarks"].items() if "error" in s]
    if missed or failed:
        log(f"missed: {'; '.join(missed) or 'none'}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
