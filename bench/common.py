"""What the benchmarks share: paths, throw-away repository copies, timing and memory helpers.

Every benchmark module runs as its own process (`python -m bench.<name> --out FILE [--quick]`),
so that one benchmark's memory or failure never touches another's figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "work"       # git-ignored scratch: repository copies, corpora, models
SAMPLE = REPO / "data" / "sample"    # the embedded corpus (raw data, read only)

sys.path.insert(0, str(REPO / "tests"))
from conftest import copy_repo, run_in  # noqa: E402  (the tests' throw-away repository helpers)

# Everything offline, as `make bench` promises (conftest sets these too).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def fresh_repo(path: Path, params: dict | None = None) -> Path:
    """A throw-away copy of this repository (tests/conftest.copy_repo) at `path`."""
    return copy_repo(fresh_dir(path), params)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def dvc(repo: Path, *args: str, timeout: int = 1800) -> tuple[float, list[str], str]:
    """Run `dvc ARGS` in `repo`: (wall seconds, stages that ran, stdout)."""
    seconds, result = timed(lambda: run_in(repo, "dvc", *args, timeout=timeout))
    return seconds, stages_run(result.stdout), result.stdout


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def pipeline_stages(repo: Path) -> list[str]:
    """Every stage dvc.yaml declares, in its order (`dvc stage list`)."""
    return run_in(repo, "dvc", "stage", "list", "--name-only").stdout.split()


# Runs on every `dvc repro`: it fingerprints data.source, and an unchanged fingerprint stops there.
ALWAYS_RUNS = "source"


def stage_records(repo: Path) -> dict[str, dict]:
    """outputs/stages/<stage>.json of a repository copy (wall_s, peak_rss_gib, peak_rss_children_gib, …)."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((repo / "outputs" / "stages").glob("*.json"))}


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def goal(name: str, value: float | None, target: str, passed: bool | None, unit: str = "", **extra) -> dict:
    """One headline figure: its value, the goal it is held to, and whether it met it."""
    return {"name": name, "value": value, "unit": unit, "goal": target, "passed": passed, **extra}


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def module_main(run: Callable[[bool], dict]) -> None:
    """The command line each benchmark module shares: run it, write its result as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for development")
    parser.add_argument("--out", type=Path, help="write the result here (JSON)")
    args = parser.parse_args()
    start, before = time.perf_counter(), load_avg()
    result = run(args.quick)
    result.update(quick=args.quick, seconds=round(time.perf_counter() - start, 1), load_avg_before=before,
                  load_avg_after=load_avg(), measured_at=time.strftime("%Y-%m-%d %H:%M:%S"))
    text = json.dumps(result, indent=1, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    else:
        print(text)
