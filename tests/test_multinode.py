"""Multi-node training: two "nodes" (one process each, gloo, on 127.0.0.1) meet through torchrun's
c10d rendezvous with torchrun's PET_* variables set, as the README's runbook says: node 0 runs
`dvc repro train`, the other `python -m stages.train`, in one work tree (a shared filesystem).
They give the loss of a single-process run that sees the same batches (as tests/test_ddp.py does
for one node), and DVC then finds the stage up to date."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import copy_of_reference, run_in

HISTORY = "outputs/az_whisper_training_history.csv"


def losses(repo: Path) -> pd.Series:
    return pd.read_csv(repo / HISTORY).set_index("step")["loss"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_with_c10d_rendezvous_match_a_single_process(reference_run, tmp_path):
    # 1 process per node, no gradient accumulation: 2 nodes x 4 clips make the reference's 1 x 4 x 2 step.
    repo = copy_of_reference(reference_run, tmp_path / "shared", processes=1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(repo),
           # What an operator exports on every node (see the README's multi-node runbook).
           "PET_NNODES": "2", "PET_RDZV_BACKEND": "c10d", "PET_RDZV_ENDPOINT": f"127.0.0.1:{free_port()}",
           "PET_RDZV_ID": "azasr-test", "PET_LOCAL_ADDR": "127.0.0.1", "PET_RDZV_CONF": "join_timeout=120",
           "GLOO_SOCKET_IFNAME": "lo",
           # Each "node" gets one of this machine's cores, as torchrun does for several local processes.
           "OMP_NUM_THREADS": "1"}
    commands = [["dvc", "repro", "train"], [sys.executable, "-m", "stages.train"]]
    runs = [subprocess.Popen(command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for command in commands]
    try:
        logs = [run.communicate(timeout=600)[0] for run in runs]
    finally:
        for run in runs:
            run.kill()
    for command, run, log in zip(commands, runs, logs):
        assert run.returncode == 0, f"{' '.join(command)}:\n{log[-6000:]}"
        assert "launching 1 processes with torchrun on each of 2 nodes" in log
    expected, got = losses(reference_run), losses(repo)
    assert list(got.index) == list(expected.index)
    assert (got - expected).abs().max() < 2e-2 * expected.abs().max()
    summary = json.loads((repo / "data/trained/training_summary.json").read_text())
    assert summary["world_size"] == 2
    assert "up to date" in run_in(repo, "dvc", "status", "train").stdout
