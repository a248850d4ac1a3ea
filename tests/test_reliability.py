"""Determinism and kills, on the tiny full-mode configuration (conftest.TINY_RUN, a generated mirror).

- Two clean runs with the same seed give byte-identical data outputs, the same split hashes
  (recorded in split_info.json) and, on CPU, identical training loss curves and metrics.
- kill -9 at random points in prepare, train, evaluate and export, then `dvc repro`: the run
  finishes and its outputs equal the uninterrupted run's (data byte for byte; training losses and
  metrics within 1e-3 relative: float summation order may differ after a resume)."""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_repo, run_in

EXACT = ["data/prepared/part-*.parquet", "data/validated/part-*.parquet", "data/split/*.parquet",
         "outputs/az_whisper_split_info.json", "outputs/az_whisper_validation.json",
         "outputs/az_whisper_data_summary.csv"]


def digests(repo: Path) -> dict[str, str]:
    return {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
            for pattern in EXACT for p in sorted(repo.glob(pattern))}


def kill_during(repo: Path, stage: str, ready, rng: random.Random, max_delay: float = 0.5,
                poll_s: float = 0.05, args: tuple[str, ...] = ()) -> bool:
    """Start `dvc repro`; once `stage` runs and `ready(repo)` holds, wait a random moment and
    kill -9 the whole process group. Returns False if the run finished before the kill."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1"}
    log = repo / f"kill-{stage}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["dvc", "repro", *args], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.time() + 600
        while not (f"Running stage '{stage}'" in log.read_text() and ready(repo)):
            if proc.poll() is not None:
                return False
            assert time.time() < deadline, f"{stage} never became ready"
            time.sleep(poll_s)
        time.sleep(rng.uniform(0.0, max_delay))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return True


def has(pattern):
    return lambda repo: any(repo.glob(pattern))


def prepare_in_progress(repo: Path) -> bool:
    """prepare has recorded at least one finished shard and is not done."""
    try:
        state = json.loads((repo / "data/prepared/_progress.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(state["shards"]) and not state["complete"]


def kill_mid_prepare(repo: Path, rng: random.Random, tries: int = 5) -> bool:
    """Kill prepare between its first recorded shard and its last: the tiny corpus is prepared in
    well under a second, so a kill that came too late is tried again with prepare's outputs
    removed (and without DVC's run cache, which would restore them instead of running)."""
    for _ in range(tries):
        if not kill_during(repo, "prepare", prepare_in_progress, rng, max_delay=0.0, poll_s=0.002,
                           args=("--no-run-cache",)):
            return False
        if prepare_in_progress(repo):
            return True
        shutil.rmtree(repo / "data/prepared")
    return False


def history(repo: Path) -> pd.Series:
    return pd.read_csv(repo / "outputs/az_whisper_training_history.csv").set_index("step")["loss"]


def results(repo: Path, name: str) -> dict:
    return json.loads((repo / f"outputs/az_whisper_{name}.json").read_text())


@pytest.mark.slow
def test_two_clean_runs_are_identical(reference_run, tiny_run, tmp_path):
    repo = copy_repo(tmp_path, tiny_run)
    run_in(repo, "dvc", "repro", "evaluate", "eda")  # what is compared; export and later only copy or report
    assert digests(repo) == digests(reference_run)
    split = results(repo, "split_info")
    assert all(len(split[s]["ids_sha256"]) == 64 for s in ("train", "validation", "test"))
    assert history(repo).equals(history(reference_run))
    for name in ("test_results", "validation_results"):
        a, b = results(repo, name), results(reference_run, name)
        assert (a["wer"], a["cer"], a["zero_shot"]["wer"] if "zero_shot" in a else None) == \
               (b["wer"], b["cer"], b["zero_shot"]["wer"] if "zero_shot" in b else None)


@pytest.mark.slow
def test_kills_at_random_points_then_repro_equals_an_uninterrupted_run(reference_run, tiny_run, tmp_path):
    reference = reference_run
    repo = copy_repo(tmp_path, tiny_run)
    rng = random.Random(8)
    killed = {
        "prepare": kill_mid_prepare(repo, rng),
        "train": kill_during(repo, "train", has("data/checkpoints/checkpoint-*/trainer_state.json"), rng),
        "evaluate": kill_during(repo, "evaluate", lambda r: True, rng, max_delay=4.0),
        "export": kill_during(repo, "export", lambda r: True, rng, max_delay=2.0),
    }
    assert killed["prepare"] and killed["train"], killed
    # The prepare kill landed mid-stage, and the next run resumed after the finished shards.
    assert "resuming after" in (repo / "kill-train.log").read_text()
    # The run after the training kill continued from a checkpoint instead of starting over.
    assert "resuming from data/checkpoints/checkpoint-" in (repo / "kill-evaluate.log").read_text()
    final = run_in(repo, "dvc", "repro")
    assert "Running stage" in final.stdout or all(killed.values())
    print(f"\nkilled during: {[stage for stage, hit in killed.items() if hit]}")

    assert digests(repo) == digests(reference)
    got, want = history(repo), history(reference)
    assert list(got.index) == list(want.index)   # resumed, not restarted: every step once
    assert (got - want).abs().max() <= 1e-3 * want.abs().max()
    for name in ("test_results", "validation_results"):
        a, b = results(repo, name), results(reference, name)
        assert abs(a["wer"] - b["wer"]) <= 1e-3 and abs(a["cer"] - b["cer"]) <= 1e-3
    assert (repo / "artifacts/az_whisper_final/model.safetensors").is_file()
    assert not list(repo.rglob(".*.tmp")) and not list(repo.glob("artifacts/.*"))
