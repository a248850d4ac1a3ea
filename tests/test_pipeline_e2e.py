"""The whole pipeline through `dvc repro`, in a throw-away copy of the repository, on a tiny
configuration: 80 embedded clips and the tiny random Whisper. Then: the exported model loads
with `pipeline()` offline, a second `dvc repro` does nothing but probe the source, a changed
parameter reruns exactly the stages that read it, and `dvc exp show` lists the values a run used."""

import json
import re

import pytest
import yaml

from conftest import copy_repo, run_in

from azasr.precision import resolve_precision

EXPERIMENT = "e2e"
TINY = {
    "experiment": {"name": EXPERIMENT},
    "data": {"sample_size": 80, "shard_size": 32},
    "model": {"name": "tiny-random-whisper"},
    "train": {"batch_size": 8, "gradient_accumulation_steps": 1, "evals_per_epoch": 1, "eval_batch_size": 8},
    "inference": {"clips": 2},
}
OUTPUTS = ["config.json", "device_info.json", "validation.json", "split_info.json", "model_info.json",
           "training_history.csv", "eval_history.csv", "validation_results.json", "test_results.json",
           "sample_predictions.csv", "data_summary.csv", "inference_test.json", "summary.md"]
CHARTS = ["duration_distribution", "text_length_distribution", "training_loss_curve", "validation_wer_curve",
          "training_overview", "results_summary", "letter_frequency"]
ARTIFACT_FILES = ["config.json", "generation_config.json", "preprocessor_config.json", "tokenizer_config.json",
                  "tokenizer.json", "model.safetensors", "experiment_metadata.json", "README.md"]


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("repo"), TINY)
    result = run_in(repo, "dvc", "repro", "--no-run-cache")
    ran = stages_run(result.stdout)
    assert [s for s in ran if s != "ct2_export"] == ["params", "environment", "source", "prepare", "validate", "eda",
                                                     "split", "model", "train", "zero_shot", "evaluate", "export",
                                                     "inference", "report"]
    assert ran.index("ct2_export") > ran.index("export")
    return repo


@pytest.mark.slow
def test_every_output_chart_and_artifact_exists(repo):
    for name in OUTPUTS:
        assert (repo / "outputs" / f"{EXPERIMENT}_{name}").stat().st_size > 0, name
    for name in CHARTS:
        assert (repo / "charts" / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    final = repo / "artifacts" / f"{EXPERIMENT}_final"
    for name in ARTIFACT_FILES:
        assert (final / name).is_file(), name
    assert not list(final.glob("*.bin")) and not list(final.glob("*.pt"))  # no pickles shipped
    card = (final / "README.md").read_text()
    assert card.startswith("---\n") and "model-index" in card and "cc-by-nc-4.0" in card
    generation = json.loads((final / "generation_config.json").read_text())
    assert generation["language"] == "az" and generation["task"] == "transcribe"
    assert 0 < generation["max_new_tokens"] <= 448


@pytest.mark.slow
def test_outputs_are_consistent(repo):
    out = repo / "outputs"
    split = json.loads((out / f"{EXPERIMENT}_split_info.json").read_text())
    validation = json.loads((out / f"{EXPERIMENT}_validation.json").read_text())
    assert validation["total"] == 80
    assert sum(split[s]["clips"] for s in ("train", "validation", "test")) == validation["accepted"]
    assert split["overlap"] == {"id": 0, "norm_text": 0, "audio_sha256": 0}
    test = json.loads((out / f"{EXPERIMENT}_test_results.json").read_text())
    assert test["clips"] == split["test"]["clips"] and "zero_shot" in test and test["by_duration"]
    # The noisy copy scores the same clips.
    assert test["noisy"]["clips"] == test["clips"] and test["noisy"]["decode_seconds"] > 0
    predictions = (out / f"{EXPERIMENT}_sample_predictions.csv").read_text().splitlines()
    assert len(predictions) == split["test"]["clips"] + 1
    history = (out / f"{EXPERIMENT}_training_history.csv").read_text().splitlines()
    assert history[0] == "step,epoch,loss,learning_rate,grad_norm,clips_per_second" and len(history) > 2
    # One small headline metrics file: `dvc metrics show` and `dvc exp show` stay readable.
    metrics = json.loads(run_in(repo, "dvc", "metrics", "show", "--json").stdout)
    files = next(iter(metrics.values()))["data"]
    assert list(files) == [f"outputs/{EXPERIMENT}_metrics.json"]
    headline = files[f"outputs/{EXPERIMENT}_metrics.json"]["data"]
    assert {"test_wer", "test_cer", "test_noisy_wer", "test_noisy_cer", "zero_shot_wer", "runaway", "zero_shot_runaway",
            "train_s"} <= set(headline)
    assert len(headline) <= 12


@pytest.mark.slow
def test_exported_model_loads_with_pipeline_offline(repo):
    code = (
        "import json, pyarrow.parquet as pq\n"
        "from transformers import pipeline\n"
        "from azasr.audio import load_16k\n"
        f"asr = pipeline('automatic-speech-recognition', model='artifacts/{EXPERIMENT}_final')\n"
        "row = pq.read_table('data/split/test.parquet').slice(0, 1).to_pylist()[0]\n"
        "out = asr({'raw': load_16k(row['audio']['bytes']), 'sampling_rate': 16000})\n"
        "print(json.dumps({'text': out['text']}))\n"
    )
    result = run_in(repo, "python", "-c", code)
    assert "text" in json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_second_repro_does_nothing_and_split_seed_makes_only_its_consumers_stale(repo):
    again = run_in(repo, "dvc", "repro")
    assert stages_run(again.stdout) == ["source"]   # the source probe always runs; its output is unchanged
    params = (repo / "params.yaml").read_text()
    seed_42 = "split:\n  train: 0.8\n  validation: 0.1\n  test: 0.1\n  seed: 42"
    (repo / "params.yaml").write_text(params.replace(seed_42, seed_42.replace("seed: 42", "seed: 7")))
    rerun = stages_run(run_in(repo, "dvc", "repro", "--no-run-cache", "split").stdout)
    assert set(rerun) - {"source"} == {"params", "split"}
    # The new split makes exactly the stages that read it, or its settings, stale: not prepare,
    # validate, eda or model; environment records the whole configuration, nothing reads it.
    status = json.loads(run_in(repo, "dvc", "status", "--json").stdout)
    assert set(status) - {"source", "environment"} == {"train", "zero_shot", "evaluate", "inference", "export",
                                                       "report"}, status
    # The split is a function of its seed: with seed 42 again the split comes out as recorded, so
    # nothing that reads it reruns; report does, as it reads every stage's timing record.
    (repo / "params.yaml").write_text(params)
    restored = stages_run(run_in(repo, "dvc", "repro", "--no-run-cache").stdout)
    assert set(restored) - {"source", "environment"} == {"params", "split", "report"}


def _edit_params(repo, edit, *targets: str) -> list[str]:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    edit(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    return [s for s in stages_run(run_in(repo, "dvc", "repro", "--no-run-cache", *targets).stdout) if s != "source"]


@pytest.mark.slow
def test_other_modes_presets_rerun_nothing_and_learning_rate_spares_the_zero_shot_stage(repo):
    def full_presets(params):
        params["presets"]["full"]["train"]["learning_rate"] = 3e-5
        params["presets"]["full"]["model"]["name"] = "openai/whisper-medium"
    # Only the stage that settles params.yaml runs; it writes the same values, so nothing follows.
    assert _edit_params(repo, full_presets) == ["params"]

    # Sample mode's learning rate makes train stale (and environment and export, which record the
    # whole configuration), and so everything downstream of train; not the zero-shot baseline,
    # which is not downstream of train (`dvc dag zero_shot` lists the stages it depends on).
    def sample_learning_rate(params):
        params["presets"]["sample"]["train"]["learning_rate"] = 1e-3
    assert _edit_params(repo, sample_learning_rate, "params") == ["params"]
    status = json.loads(run_in(repo, "dvc", "status", "--json").stdout)
    assert set(status) - {"source"} == {"environment", "train", "export"}, status
    upstream_of_zero_shot = re.findall(r'node\d+\["([^"]+)"\]', run_in(repo, "dvc", "dag", "--md", "zero_shot").stdout)
    assert "train" not in upstream_of_zero_shot and "model" in upstream_of_zero_shot

    # `dvc exp show` lists the settled values, not `auto`.
    workspace = json.loads(run_in(repo, "dvc", "exp", "show", "--json").stdout)[0]["data"]
    shown = workspace["params"]
    settled = shown["outputs/params.yaml"]["data"]
    assert settled["train"]["learning_rate"] == 1e-3 and settled["model"]["name"] == "tiny-random-whisper"
    assert shown["params.yaml"]["data"]["train"]["learning_rate"] == "auto"
    headline = workspace["metrics"][f"outputs/{EXPERIMENT}_metrics.json"]["data"]
    # CPU training: bf16 autocast where the CPU computes bf16 natively, else fp32.
    assert headline["train_precision"] == resolve_precision("auto", "cpu") and "test_wer" in headline
