"""Training as two DDP processes (torchrun, gloo on CPU) gives the loss of a single-process run
that sees the same batches. Tiny random Whisper."""

from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_of_reference, run_in

HISTORY = "outputs/az_whisper_training_history.csv"


def losses(repo: Path) -> pd.Series:
    history = pd.read_csv(repo / HISTORY)
    return history.set_index("step")["loss"]


@pytest.mark.slow
def test_two_ddp_processes_match_a_single_process(reference_run, tmp_path):
    # 2 processes × 4 clips × 1 accumulation = 1 process × 4 clips × 2 accumulation: same batches.
    repo = copy_of_reference(reference_run, tmp_path / "repo", processes=2)
    result = run_in(repo, "dvc", "repro", "train", timeout=900)
    assert "launching 2 processes with torchrun" in result.stderr
    assert (repo / "data" / "trained" / "model.safetensors").is_file()
    expected, got = losses(reference_run), losses(repo)
    assert list(got.index) == list(expected.index)
    assert (got - expected).abs().max() < 2e-2 * expected.abs().max()
