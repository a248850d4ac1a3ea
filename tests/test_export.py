"""The model card's front matter."""

import yaml

from azasr.export import model_card


def test_model_card_front_matter_is_valid_yaml_with_metrics():
    scores = {"wer": 0.36, "cer": 0.07, "wer_raw": 0.42, "cer_raw": 0.08, "clips": 50,
              "by_duration": {"0-2 s": {"clips": 10, "wer": 0.5, "cer": 0.1}}}
    card = model_card(
        experiment="x", base_model="openai/whisper-base", test={**scores, "zero_shot": scores},
        validation=scores, split_info={"test": {"clips": 50, "hours": 0.05}},
        train_summary={"global_steps": 25, "best_validation_wer": 0.39}, mode="sample", data_source="data/sample",
    )
    front = yaml.safe_load(card.split("---")[1])
    assert front["language"] == ["az"] and front["pipeline_tag"] == "automatic-speech-recognition"
    metrics = front["model-index"][0]["results"][0]["metrics"]
    assert {m["type"]: m["value"] for m in metrics} == {"wer": 36.0, "cer": 7.0}
    assert front["license"] == "apache-2.0" and "cc-by-nc-4.0" in card and "Sample mode" in card


def test_exported_metadata_and_card_carry_no_local_paths(reference_run, tiny_mirror):
    """The tiny run reads data.source from an absolute temporary directory and its base model from
    the azasr cache: neither location appears in what export publishes (issue 13.11)."""
    import json
    import os
    from pathlib import Path

    artifact = reference_run / "artifacts" / "az_whisper_final"
    local = [str(tiny_mirror), str(reference_run), os.environ["AZASR_CACHE"], str(Path.home())]
    for name in ("experiment_metadata.json", "README.md"):
        text = (artifact / name).read_text(encoding="utf-8")
        assert not [p for p in local if p in text], name

    def strings(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, str):
            yield value

    metadata = json.loads((artifact / "experiment_metadata.json").read_text(encoding="utf-8"))
    assert not [s for s in strings(metadata) if os.path.isabs(s)]
    assert metadata["data"]["source"] == f"<local>/{tiny_mirror.name}"
