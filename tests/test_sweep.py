"""A queued sweep, and full mode through every stage by `dvc exp run`: two learning rates queued
with `dvc exp run --queue -S mode.sample=false ...` from a workspace in sample mode, run by
`dvc queue start` in DVC's temporary workspaces (where the persist outputs come from the cache
and no resume state exists), then ranked by test WER in `dvc exp show`.

The base is the tiny full-mode reference run (conftest.reference_run) committed with its
dvc.lock: the data stages come back from DVC's run cache, and train, evaluate, export, inference
and report run for each point."""

import csv
import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import run_in

TEST_WER = "outputs/az_whisper_test_results.json"
LEARNING_RATES = ("2e-3", "4e-3")


def experiments(show: list) -> dict[str, dict]:
    """{experiment name: its exp-show data} from `dvc exp show --json` (workspace and baseline left out)."""
    found = {}
    for baseline in show:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                found[rev["name"]] = rev["data"]
    return found


def wait_for_queue(repo: Path, timeout: float = 900) -> str:
    deadline = time.time() + timeout
    while True:
        status = run_in(repo, "dvc", "queue", "status").stdout
        if not any(state in status for state in ("Queued", "Running")):
            return status
        assert time.time() < deadline, status
        time.sleep(3)


@pytest.mark.slow
def test_queued_full_mode_sweep_runs_every_stage_and_ranks_by_test_wer(reference_run, tmp_path):
    repo = tmp_path / "sweep"
    shutil.copytree(reference_run, repo, symlinks=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["mode"]["sample"] = True  # the sweep switches to full mode itself, as a user would
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    subprocess.run(["git", "add", "params.yaml", "dvc.lock"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm",
                    "baseline: the reference run, in sample mode"], cwd=repo, check=True)

    run_in(repo, "dvc", "exp", "run", "--queue", "-S", "mode.sample=false", "-S", "train.epochs=1",
           "-S", f"train.learning_rate={','.join(LEARNING_RATES)}")
    run_in(repo, "dvc", "queue", "start", "-j", "1")
    status = wait_for_queue(repo)
    assert status.count("Success") == len(LEARNING_RATES), status + run_in(repo, "dvc", "queue", "logs",
                                                                          "--all", check=False).stdout

    found = experiments(json.loads(run_in(repo, "dvc", "exp", "show", "--json").stdout))
    wers = {}
    for name, data in found.items():
        p = data["params"]["params.yaml"]["data"]
        assert p["mode"]["sample"] is False
        wers[name] = data["metrics"][TEST_WER]["data"]["wer"]
        # Every stage ran in full mode: the report's inputs and the inference through pipeline().
        assert set(data["metrics"]) >= {TEST_WER, "outputs/stages/export.json", "outputs/stages/inference.json"}
    assert len(wers) == len(LEARNING_RATES)

    ranked = run_in(repo, "dvc", "exp", "show", "--csv", "--sort-by", f"{TEST_WER}:wer", "--sort-order", "asc",
                    "--keep", "Experiment|learning_rate|wer", "--drop", ".*").stdout
    rows = [row for row in csv.DictReader(io.StringIO(ranked)) if row["Experiment"] in wers]
    assert [row["Experiment"] for row in rows] == sorted(wers, key=wers.get)

    # Bring the best point into the workspace: its outputs come from the cache, and DVC agrees
    # the workspace is what the pipeline would produce (no resume state needed or left over).
    run_in(repo, "dvc", "exp", "apply", min(wers, key=wers.get))
    run_in(repo, "dvc", "checkout")
    assert "Data and pipelines are up to date" in run_in(repo, "dvc", "status").stdout
    assert (repo / "outputs" / "az_whisper_summary.md").is_file()
