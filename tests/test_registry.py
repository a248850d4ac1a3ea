"""The model registry: dvc.yaml's `artifacts:` entries, fetched from a clone of a finished run with
`dvc artifacts get`, load in `pipeline()` as a user would load them."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from conftest import REPO, run_in


def test_artifacts_block_describes_the_models():
    artifacts = yaml.safe_load((REPO / "dvc.yaml").read_text())["artifacts"]
    model = artifacts["az-whisper"]
    assert model["type"] == "model" and model["path"] == "artifacts/az_whisper_final"
    assert {"base_model", "mode", "test_wer"} <= set(model["meta"]) and model["desc"] and model["labels"]
    assert artifacts["az-whisper-ct2"]["path"] == "artifacts/az_whisper_ct2"
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = {str(o if isinstance(o, str) else next(iter(o))) for s in stages.values() for o in s.get("outs", [])}
    for entry in artifacts.values():  # every registered path is a stage output
        assert entry["path"].replace("az_whisper", "${experiment.name}") in outs, entry["path"]


def test_dvc_artifacts_get_from_a_clone_loads_in_pipeline(reference_run, tmp_path):
    """The finished tiny run is the registry: a git clone with its dvc.lock committed, a version
    tag, and its cache as the DVC remote; `dvc artifacts get <clone> az-whisper` fetches the export."""
    clone = tmp_path / "registry"
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "clone", "-q", str(reference_run), str(clone)], check=True)
    shutil.copy2(reference_run / "dvc.lock", clone / "dvc.lock")
    run_in(clone, "dvc", "remote", "add", "-d", "store", str(reference_run / ".dvc" / "cache"))
    subprocess.run([*git, "add", "dvc.lock", ".dvc/config"], cwd=clone, check=True)
    subprocess.run([*git, "commit", "-qm", "run"], cwd=clone, check=True)
    # A registry version is a GTO tag (what `gto register az-whisper` writes); `dvc artifacts get`
    # without --rev fetches the latest version.
    subprocess.run([*git, "tag", "-a", "az-whisper@v0.1.0", "-m", "Registering artifact az-whisper version v0.1.0"],
                   cwd=clone, check=True)

    out = tmp_path / "fetched"
    run_in(tmp_path, "dvc", "artifacts", "get", str(clone), "az-whisper", "-o", str(out), timeout=300)
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()

    from transformers import pipeline
    import numpy as np

    asr = pipeline("automatic-speech-recognition", model=str(out), device=-1)
    text = asr({"raw": np.zeros(16_000, np.float32), "sampling_rate": 16_000})["text"]
    assert isinstance(text, str)
