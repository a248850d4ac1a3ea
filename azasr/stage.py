"""What every stage script shares: params, clear errors instead of tracebacks, and a record of
its wall time and peak memory (outputs/stages/<stage>.json, a plain output of the stage)."""

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
from .params import effective, load_params

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


# Set by tests/test_dvc_yaml.py: each stage appends the parameter keys its code read to this file,
# which the test compares with the params the stage declares in dvc.yaml.
PARAMS_TRACE_ENV = "AZASR_PARAMS_TRACE"


class TrackedParams(dict):
    """A params mapping that records the dotted key of every value read from it (the leaves: a
    section read as a whole is recorded key by key as its items are read)."""

    def __init__(self, data: dict[str, Any], seen: set[str], prefix: str = ""):
        super().__init__({k: TrackedParams(v, seen, f"{prefix}{k}.") if isinstance(v, dict) else v
                          for k, v in data.items()})
        self._seen, self._prefix = seen, prefix

    def _read(self, key) -> None:
        if not isinstance(super().get(key), TrackedParams):
            self._seen.add(f"{self._prefix}{key}")

    def __getitem__(self, key):
        self._read(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._read(key)
        return super().get(key, default)

    def items(self):
        for key in self.keys():
            self._read(key)
        return super().items()

    def values(self):
        return [v for _, v in self.items()]


def _trace_params(name: str, params: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], None]]:
    trace = os.environ.get(PARAMS_TRACE_ENV)
    if not trace:
        return params, lambda: None
    seen: set[str] = set()

    def flush() -> None:
        with open(trace, "a", encoding="utf-8") as f:
            f.writelines(f"{name}\t{key}\n" for key in sorted(seen))

    return TrackedParams(params, seen), flush


def run_stage(name: str, body: Callable[[dict[str, Any]], dict[str, Any] | None], *,
              traced: bool = True, record: bool = True) -> None:
    """Run `body(params)`; PipelineError → one clear line and exit code 2, never a traceback.

    `params` is params.yaml settled (every `auto` from the current mode's preset, the presets
    dropped): exactly what the `params` stage writes to outputs/params.yaml, the file whose keys
    dvc.yaml declares for each stage. Settling it here lets a stage also run on its own
    (`python -m stages.train`). With `record`, write outputs/stages/<name>.json (wall time, peak
    memory)."""
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(message)s", stream=sys.stderr)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.perf_counter()
    try:
        params = effective(load_params())
        # The stage that writes outputs/params.yaml reads all of it, and declares so; the others are traced.
        params, flush_trace = _trace_params(name, params) if traced else (params, lambda: None)
        extra = body(params) or {}
        flush_trace()
    except PipelineError as exc:
        print(f"[{name}] error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"[{name}] interrupted", file=sys.stderr)
        sys.exit(130)
    if not record or int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only the first process records the stage
    stats = {"stage": name, "wall_s": round(time.perf_counter() - start, 2), **peak_rss_gib(), **extra}
    write_json(STAGE_METRICS_DIR / f"{name}.json", stats)
    logging.info("done in %.1f s, peak RSS %.2f GiB", stats["wall_s"], stats["peak_rss_gib"])
