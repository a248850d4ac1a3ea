"""Shared fixtures. Every test runs offline: nothing comes from a model hub."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from azasr.stage import PARAMS_TRACE_ENV

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on a 2-core machine: one math thread each (stage
    # subprocesses inherit it), since two workers spinning two OpenMP threads each thrash.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def session_root(base_temp: Path) -> Path:
    """The directory the whole test session shares: pytest's base temp directory, or under
    pytest-xdist its parent (each worker's base temp is a child of the controller's)."""
    return base_temp.parent if os.environ.get("PYTEST_XDIST_WORKER") else base_temp


def cache_env(root: Path) -> dict[str, str]:
    return {"AZASR_CACHE": str(root / "caches" / "azasr"), "HF_DATASETS_CACHE": str(root / "caches" / "datasets")}


def built_once(root: Path, name: str, build) -> Path:
    """`build(directory)` once per test session, by whichever process asks first (an xdist worker,
    or the controller's head start: pytest_sessionstart); the others wait for it and reuse it. A
    build that failed is tried again by the next to ask, which then reports the failure itself."""
    from filelock import FileLock

    out = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (out / ".built").exists():
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            build(out)
            (out / ".built").touch()
    return out


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory):
    """Model and dataset caches in the session's temporary directory, so tests see neither the
    developer's caches nor leave anything behind; shared by the xdist workers (the model cache
    locks its entries), so the converted whisper-base is built once per session."""
    root = session_root(tmp_path_factory.getbasetemp())
    os.environ.update(cache_env(root))
    yield root / "caches"


def tone(seconds: float, rate: int = 16_000, freq: float = 440.0, channels: int = 1, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def audio_bytes(samples: np.ndarray, rate: int = 16_000, fmt: str = "FLAC", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def copy_repo(dest: Path, params: dict | None = None) -> Path:
    """A throw-away copy of the repository (tracked files and the embedded corpus), as its own
    git + DVC repo, with `params` merged into params.yaml (nested dicts, dotted keys not needed)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    for name in (".dvc/config", ".dvcignore"):
        if (REPO / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    (dest / "dvc.lock").unlink(missing_ok=True)
    if params:
        current = yaml.safe_load((dest / "params.yaml").read_text())
        _merge(current, params)
        (dest / "params.yaml").write_text(yaml.safe_dump(current, sort_keys=False, allow_unicode=True))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


def assert_up_to_date(repo: Path, *targets: str) -> None:
    """`dvc status` finds nothing to do but probe the source: the `source` stage always runs (it
    fingerprints data.source, and an unchanged fingerprint stops the pipeline there)."""
    status = json.loads(run_in(repo, "dvc", "status", "--json", *targets).stdout or "{}")
    assert set(status) <= {"source"} and status.get("source", ["always changed"]) == ["always changed"], status


def stages_run(output: str) -> list[str]:
    """The stages a `dvc repro` / `dvc exp run` ran, from its output, the always-run source probe left out."""
    return [s for s in re.findall(r"Running stage '([^']+)'", output) if s != "source"]


def _merge(into: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def run_in(repo: Path, *args: str, timeout: int = 900, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command in `repo` with this interpreter's environment first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(repo), "PYTHONUNBUFFERED": "1", **(env or {})}
    result = subprocess.run(list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


# A tiny but complete configuration in FULL mode, from a generated local mirror of 96 clips
# (full mode from `data.source=<dir>` end to end), with the tiny random Whisper, 2 epochs with a
# validation pass and a checkpoint each (every pass of the random model decodes to the token budget,
# the suite's costliest part of a tiny run), fp32 so that runs are bit-for-bit comparable on a CPU.
TINY_RUN = {
    "mode": {"sample": False},
    "data": {"shard_size": 16, "workers": 1},
    "model": {"name": "tiny-random-whisper"},
    "train": {"batch_size": 4, "gradient_accumulation_steps": 2, "epochs": 2, "evals_per_epoch": 1,
              "eval_batch_size": 8, "save_total_limit": 3, "learning_rate": 1e-3, "precision": "fp32"},
    "inference": {"clips": 2},
}


def shared_tiny_mirror(root: Path) -> Path:
    from synthetic_corpus import write_mirror

    return built_once(root, "mirror", lambda out: write_mirror(out, clips=96, shard_rows=40, seed=5))


def with_source(mirror: Path) -> dict:
    """TINY_RUN with data.source pointing at the generated mirror."""
    return {**TINY_RUN, "data": {**TINY_RUN["data"], "source": str(mirror)}}


def shared_reference_run(root: Path) -> Path:
    """One uninterrupted `dvc repro` of TINY_RUN on the tiny mirror, in <root>/reference/repo. Each
    stage records the parameters it reads in <root>/reference/params_trace.txt (tests/test_dvc_yaml.py)."""
    run = with_source(shared_tiny_mirror(root))

    def build(out: Path) -> None:
        repo = copy_repo(out / "repo", run)
        run_in(repo, "dvc", "repro", env={PARAMS_TRACE_ENV: str(out / "params_trace.txt")})

    return built_once(root, "reference", build) / "repo"


def copy_of_reference(reference: Path, dest: Path, processes: int) -> Path:
    """The reference run (data, DVC cache, dvc.lock) set to train in `processes` processes without
    gradient accumulation (the training losses the distributed tests compare with the reference's)."""
    shutil.copytree(reference, dest, symlinks=True)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    params["train"].update(gradient_accumulation_steps=1, processes=processes)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    return dest


@pytest.fixture(scope="session")
def tiny_mirror(tmp_path_factory) -> Path:
    return shared_tiny_mirror(session_root(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="session")
def tiny_run(tiny_mirror) -> dict:
    return with_source(tiny_mirror)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory) -> Path:
    """The tiny configuration's one uninterrupted run, shared by every test that compares against
    it or starts from it (they copy it; none changes it). Under xdist the controller starts it
    before the workers need it (pytest_sessionstart) and the test files that use it run last."""
    return shared_reference_run(session_root(tmp_path_factory.getbasetemp()))


REFERENCE_LOG = "reference-head-start.log"


def pytest_sessionstart(session):
    """Under xdist, the controller builds the reference run in the background while the workers
    run the tests that do not need it: one build for the session instead of one per worker."""
    config = session.config
    if not getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput"):
        return
    root = config._tmp_path_factory.getbasetemp()
    env = {**os.environ, **cache_env(root), "OMP_NUM_THREADS": "1"}
    with open(root / REFERENCE_LOG, "w") as log:
        config.reference_head_start = subprocess.Popen(
            [sys.executable, "-c", "import sys; from pathlib import Path; import conftest; "
             "conftest.shared_reference_run(Path(sys.argv[1]))", str(root)],
            cwd=Path(__file__).parent, env={**env, "PYTHONPATH": str(Path(__file__).parent)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def pytest_sessionfinish(session):
    head_start = getattr(session.config, "reference_head_start", None)
    if head_start is not None and head_start.poll() is None:
        os.killpg(head_start.pid, signal.SIGKILL)
        head_start.wait()


def pytest_collection_modifyitems(items):
    """Test files that use the reference run last (a stable sort: the same order on every worker;
    whole files, as `--dist loadfile` hands out files), so the head start is done before they begin."""
    late = {item.path for item in items if "reference_run" in item.fixturenames}
    items.sort(key=lambda item: item.path in late)


@pytest.fixture(scope="session")
def whisper_base_dir(tmp_path_factory) -> Path:
    """openai/whisper-base as a save_pretrained directory (rebuilt from its CTranslate2 copy on
    PyPI, cached in AZASR_CACHE for the session): a real model small enough for a CPU, for the
    tests that need real transcripts (a tiny random model loops)."""
    from azasr.model import export_pretrained

    return export_pretrained("openai/whisper-base", tmp_path_factory.mktemp("whisper_base") / "model").path


def sample_clips(count: int) -> list[dict]:
    """The first `count` clips of the embedded corpus: {id, audio (bytes), text, duration}."""
    import pyarrow.parquet as pq

    table = pq.read_table(sorted((REPO / "data" / "sample").glob("*.parquet"))[0])
    rows = table.slice(0, count).to_pylist()
    return [{"id": r.get("audio_file") or str(i), "audio": r["audio"]["bytes"], "text": r["text"],
             "duration": r["duration"]} for i, r in enumerate(rows)]


TAUGHT_CLIPS = 8


@dataclass
class Taught:
    """whisper-base after a few optimizer steps on a few embedded clips (taught_whisper_base)."""
    model_dir: Path
    clips: "datasets.Dataset"   # id, audio, text, duration
    steps: int
    loss_before: float
    loss_after: float


@pytest.fixture(scope="session")
def taught_whisper_base(whisper_base_dir, tmp_path_factory) -> Taught:
    """The real whisper-base taught 8 short embedded clips (one packed window) for 5 optimizer steps
    at 2e-4 through the train stage's own trainer, fp32, then saved as the train stage saves its
    model (token budget from these clips in its generation config). It transcribes those clips
    without the loops of zero-shot whisper-base: a cheap trained model for the tests that need
    real transcripts (tests/test_learning.py, the faster-whisper parity test). Built once per session."""
    from azasr.data import load_split

    out = built_once(session_root(tmp_path_factory.getbasetemp()), "taught",
                     lambda work: _teach_whisper_base(whisper_base_dir, work))
    losses = json.loads((out / "taught.json").read_text())
    return Taught(out / "model", load_split(out / "train.parquet"), **losses)


def _teach_whisper_base(whisper_base_dir: Path, work: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from azasr.augment import NO_AUGMENT
    from azasr.collate import SpeechCollator
    from azasr.data import load_split
    from azasr.decode import TokenBudget
    from azasr.model import load_model, resolve_model, save_model_dir
    from azasr.tokens import text_token_counts
    from azasr.train import TrainConfig, build_trainer

    table = pq.read_table(sorted((REPO / "data" / "sample").glob("*.parquet"))[0]).replace_schema_metadata(None)
    table = table.sort_by("duration").slice(100, TAUGHT_CLIPS)  # short clips: one packed window
    table = table.append_column("id", pa.array([f"clip{i}" for i in range(TAUGHT_CLIPS)]))
    pq.write_table(table.select(["id", "audio", "text", "duration"]), work / "train.parquet")
    clips = load_split(work / "train.parquet")

    @torch.no_grad()
    def mean_loss(model) -> float:
        model.eval()
        batch = SpeechCollator(processor, pack=False)(clips.to_list())
        return float(model(input_features=batch["input_features"], labels=batch["labels"]).loss)

    model, processor = load_model(resolve_model(str(whisper_base_dir)))
    before = mean_loss(model)
    config = TrainConfig(batch_size=TAUGHT_CLIPS, gradient_accumulation_steps=1, learning_rate=2e-4, warmup_steps=1,
                         epochs=5, weight_decay=0.0, max_grad_norm=1.0, lr_scheduler="constant_with_warmup",
                         pack=True, pack_gap_s=0.2, eval_batch_size=TAUGHT_CLIPS, evals_per_epoch=1,
                         save_total_limit=1, precision="fp32", gradient_checkpointing=False, torch_compile=False, freeze_encoder=False,
                         dataloader_workers=0, seed=42, augment=NO_AUGMENT)
    budget = TokenBudget.from_corpus(text_token_counts(clips["text"]), clips["duration"])
    budget.apply_to(model.generation_config)
    model.config.use_cache = False
    trainer = build_trainer(model, processor, clips, clips.select(range(2)), config,
                            checkpoint_dir=str(work / "checkpoints"), device="cpu", world_size=1,
                            callbacks=[], token_budget=budget)
    # Validation passes and checkpoints (tested elsewhere) would only cost time here.
    trainer.args.eval_strategy = trainer.args.save_strategy = "no"
    trainer.args.load_best_model_at_end = False
    trainer.callback_handler.callbacks = [c for c in trainer.callback_handler.callbacks
                                          if type(c).__name__ != "_EvaluateAtEnd"]
    trainer.train()
    after = mean_loss(trainer.model)
    trainer.model.config.use_cache = True
    save_model_dir(trainer.model, processor, work / "model")
    (work / "taught.json").write_text(json.dumps({"steps": trainer.state.global_step, "loss_before": before,
                                                  "loss_after": after}))
