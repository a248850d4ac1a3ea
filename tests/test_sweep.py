"""`dvc exp run -S mode.sample=false` and a queued sweep, from a workspace in sample mode whose last
commit holds the tiny full-mode reference run (conftest.reference_run, a generated mirror, every
stage executed by `dvc repro`) and its dvc.lock.

- `dvc exp run -S mode.sample=false` resolves to exactly that full-mode pipeline: every stage,
  export, inference and report included, comes back from DVC's cache with the reference's
  metrics (the run itself is not repeated: reference_run is the one full run of the suite).
- Two learning rates queued with `dvc exp run --queue` and run by `dvc queue start` in DVC's
  temporary workspaces (persist outputs checked out from the cache there, no resume state) train
  and evaluate for real, and `dvc exp show` ranks them by the headline test WER."""

import csv
import io
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import assert_up_to_date, run_in, stages_run

TEST_WER = "outputs/az_whisper_test_results.json"
HEADLINE = "outputs/az_whisper_metrics.json"  # the pipeline's one metrics file
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
def test_full_mode_by_exp_run_and_a_queued_sweep_ranked_by_test_wer(reference_run, tmp_path):
    repo = tmp_path / "sweep"
    shutil.copytree(reference_run, repo, symlinks=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["mode"]["sample"] = True  # the sweep switches to full mode itself, as a user would
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    subprocess.run(["git", "add", "params.yaml", "dvc.lock"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm",
                    "baseline: the reference run, in sample mode"], cwd=repo, check=True)

    # Full mode by `dvc exp run`, in a workspace without outputs: `-S mode.sample=false` resolves to
    # exactly the committed full-mode pipeline, so every stage, export, inference and report
    # included, comes back from the cache with the reference's outputs and none runs again.
    for produced in ("outputs", "charts", "artifacts", "data/prepared", "data/validated", "data/split", "data/trained"):
        shutil.rmtree(repo / produced)
    full = run_in(repo, "dvc", "exp", "run", "-S", "mode.sample=false")
    assert stages_run(full.stdout) == [], full.stdout
    for stage in ("split", "train", "evaluate", "export", "inference", "report"):
        assert f"Stage '{stage}' didn't change" in full.stdout or f"Stage '{stage}' is cached" in full.stdout, full.stdout
    assert json.loads((repo / TEST_WER).read_text()) == json.loads((reference_run / TEST_WER).read_text())
    assert (repo / "outputs" / "az_whisper_summary.md").is_file()
    assert_up_to_date(repo)
    run_in(repo, "git", "checkout", "params.yaml", "dvc.lock")  # back to the committed baseline

    run_in(repo, "dvc", "exp", "run", "--queue", "-S", "mode.sample=false", "-S", "train.epochs=1",
           "-S", "train.evals_per_epoch=1",
           "-S", f"train.learning_rate={','.join(LEARNING_RATES)}")
    run_in(repo, "dvc", "queue", "start", "-j", str(len(LEARNING_RATES)))
    status = wait_for_queue(repo)
    assert status.count("Success") == len(LEARNING_RATES), status + run_in(repo, "dvc", "queue", "logs",
                                                                          "--all", check=False).stdout

    found = experiments(json.loads(run_in(repo, "dvc", "exp", "show", "--json").stdout))
    wers = {}
    for name, data in found.items():
        p = data["params"]["params.yaml"]["data"]
        if p["train"]["learning_rate"] not in [float(lr) for lr in LEARNING_RATES]:
            continue  # the full-mode run above
        assert p["mode"]["sample"] is False
        wers[name] = data["metrics"][HEADLINE]["data"]["test_wer"]
    assert len(wers) == len(LEARNING_RATES)

    ranked = run_in(repo, "dvc", "exp", "show", "--csv", "--sort-by", f"{HEADLINE}:test_wer", "--sort-order", "asc",
                    "--keep", "Experiment|.*learning_rate|test_wer", "--drop", ".*").stdout
    rows = [row for row in csv.DictReader(io.StringIO(ranked)) if row["Experiment"] in wers]
    assert [row["Experiment"] for row in rows] == sorted(wers, key=wers.get)

    # The best point in the workspace: its outputs come from the cache, and DVC agrees they are
    # what the pipeline makes (no resume state needed or left over).
    run_in(repo, "dvc", "exp", "apply", min(wers, key=wers.get))
    run_in(repo, "dvc", "checkout")
    assert_up_to_date(repo)
