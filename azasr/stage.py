"""What every stage script shares: params, clear errors instead of tracebacks, and a record of
its wall time and peak memory (outputs/stages/<stage>.json, declared as a DVC metric)."""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable

from . import PipelineError
from .io import write_json
from .params import load_params

STAGE_METRICS_DIR = Path("outputs/stages")


def peak_rss_gib() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child, in GiB."""
    own = _own_peak_kib() / 2**20
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return {"peak_rss_gib": round(own, 3), "peak_rss_children_gib": round(children, 3)}


def _own_peak_kib() -> int:
    """This process's own peak RSS in KiB: VmHWM where Linux gives it. ru_maxrss is not that: Linux
    carries the launching process's peak across exec (dvc, or a test that just built a large
    corpus), so a small stage would report its parent's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def code_fingerprint() -> str:
    """Hash of the azasr package's source and of the versions of the libraries that shape its
    outputs. Resumable stages fold it into their fingerprints: DVC reruns a stage when its code
    changes, and partial work done by the old code must not be resumed then."""
    from importlib import metadata

    h = hashlib.sha256()
    for name in ("torch", "transformers", "soundfile", "soxr", "pyarrow", "numpy"):
        try:
            h.update(f"{name}=={metadata.version(name)};".encode())
        except metadata.PackageNotFoundError:
            pass
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def experiment_path(params: dict[str, Any], folder: str, suffix: str) -> Path:
    """outputs/<experiment>_<suffix>, the naming the seed uses for every output file."""
    return Path(folder) / f"{params['experiment']['name']}_{suffix}"


def run_stage(name: str, body: Callable[[dict[str, Any]], dict[str, Any] | None], *, record: bool = True) -> None:
    """Run `body(params)`; PipelineError → one clear line and exit code 2, never a traceback.
    With `record`, write outputs/stages/<name>.json (wall time, peak memory)."""
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(message)s", stream=sys.stderr)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.perf_counter()
    try:
        extra = body(load_params()) or {}
    except PipelineError as exc:
        print(f"[{name}] error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"[{name}] interrupted", file=sys.stderr)
        sys.exit(130)
    if not record or int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only the first process records the stage
    record = {"stage": name, "wall_s": round(time.perf_counter() - start, 2), **peak_rss_gib(), **extra}
    write_json(STAGE_METRICS_DIR / f"{name}.json", record)
    logging.info("done in %.1f s, peak RSS %.2f GiB", record["wall_s"], record["peak_rss_gib"])
