"""Seed stage 12: the model a user loads with `pipeline()`, its metadata and its model card."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

DATA_LICENSE = "cc-by-nc-4.0"
BASE_LICENSES = {"openai/whisper": "apache-2.0"}  # OpenAI's Whisper weights on the hub are Apache-2.0


def without_local_paths(value: Any) -> Any:
    """`value` (nested dicts, lists, strings) fit to publish: an absolute local path becomes
    `<local>/<its last part>` (a mirror directory, the model cache, a local base model say nothing
    to a reader and tell where the author's files live), and credentials in URLs are redacted."""
    from .hub import redact

    if isinstance(value, dict):
        return {k: without_local_paths(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_local_paths(v) for v in value]
    if not isinstance(value, str):
        return value
    text = redact(value)
    if os.path.isabs(text) or text.startswith("~"):
        return f"<local>/{Path(text).name}"
    # Paths inside longer text: the home folder and the current directory.
    for root, label in ((Path.cwd(), "."), (Path.home(), "~")):
        text = text.replace(str(root), label)
    return re.sub(r"(?<![\w.<:/*@])/(?:[^\s/'\"]+/)+([^\s/'\"]+)", r"<local>/\1", text)


def base_license(base_model: str) -> str:
    return next((lic for prefix, lic in BASE_LICENSES.items() if base_model.startswith(prefix)), "see base model")


SAMPLE_CORPUS_ID = "azasr-embedded-synthetic-az"
SAMPLE_CORPUS_NAME = "azasr embedded synthetic Azerbaijani corpus (espeak-ng, CC0-1.0)"


def card_license(base_model: str, mode: str) -> str:
    """The card's `license` (a Hub license id): in full mode the weights learned from
    LocalDoc/azerbaijani_asr, CC-BY-NC-4.0, so the model is offered under that licence's terms
    (non-commercial); in sample mode from a CC0 corpus, so the base model's licence stands."""
    return DATA_LICENSE if mode == "full" else base_license(base_model)


def card_data(*, experiment: str, base_model: str, test: dict[str, Any], mode: str, dataset_id: str):
    """huggingface_hub's ModelCardData: the Hub's metadata with the test scores as EvalResults.
    The dataset is the hub dataset in full mode, the embedded synthetic corpus by name in sample
    mode: never a local path."""
    from huggingface_hub import EvalResult, ModelCardData

    if mode == "full":
        dataset_type, dataset_name, datasets = dataset_id, f"{dataset_id} (held-out test split)", [dataset_id]
    else:
        dataset_type, dataset_name, datasets = SAMPLE_CORPUS_ID, f"{SAMPLE_CORPUS_NAME}, held-out test split", None
    results = [
        EvalResult(task_type="automatic-speech-recognition", task_name="Speech Recognition",
                   dataset_type=dataset_type, dataset_name=dataset_name, dataset_split="test",
                   dataset_config="az" if mode == "full" else None,
                   metric_type=metric, metric_name=f"{metric.upper()} (normalized, %)",
                   metric_value=round(100 * test[metric], 2))
        for metric in ("wer", "cer")
    ]
    return ModelCardData(
        model_name=f"{experiment}_final", language=["az"], license=card_license(base_model, mode),
        library_name="transformers", pipeline_tag="automatic-speech-recognition", base_model=base_model,
        tags=["whisper", "azerbaijani", "asr", "dvc"] + ([] if mode == "full" else ["synthetic-speech"]),
        datasets=datasets, metrics=["wer", "cer"], eval_results=results,
    )


def check_card(text: str) -> None:
    """Parse a card back with huggingface_hub (ModelCard → ModelCardData → EvalResults) and
    refuse one the Hub would not read as written: raises PipelineError. `card.validate()` (the
    Hub's own YAML check, a request to the endpoint) runs in `azasr push`."""
    from huggingface_hub import ModelCard

    from . import PipelineError

    try:
        card = ModelCard(text)
    except ValueError as exc:
        raise PipelineError(f"model card: {exc}") from None
    data = card.data
    problems = [f"{key} missing" for key in ("license", "language", "pipeline_tag", "base_model")
                if not getattr(data, key, None)]
    if not data.eval_results:
        problems.append("no eval results (model-index)")
    if any(_looks_local(str(r.dataset_type)) for r in data.eval_results or []) or \
            any(_looks_local(str(d)) for d in data.datasets or []):
        problems.append("a dataset named by a local path")
    if problems:
        raise PipelineError(f"model card: {'; '.join(problems)}")


def _looks_local(name: str) -> bool:
    return os.path.isabs(name) or name.startswith(("<local>", ".", "~")) or Path(name).exists()


def model_card(*, experiment: str, base_model: str, test: dict[str, Any], validation: dict[str, Any],
               split_info: dict[str, Any], train_summary: dict[str, Any], mode: str, data_source: str,
               dataset_id: str = "LocalDoc/azerbaijani_asr") -> str:
    zero_shot = test.get("zero_shot", {})
    data = card_data(experiment=experiment, base_model=base_model, test=test, mode=mode, dataset_id=dataset_id)
    trained_on = (f"[{dataset_id}](https://huggingface.co/datasets/{dataset_id}) (CC-BY-NC-4.0)" if mode == "full"
                  else f"the {SAMPLE_CORPUS_NAME} embedded in the pipeline")
    buckets = "\n".join(
        f"| {label} | {b['clips']} | {b['wer']:.3f} | {b['cer']:.3f} |" for label, b in test.get("by_duration", {}).items()
    )
    sample_note = (
        "\n> **Sample mode.** This model was fine-tuned for one epoch on the pipeline's embedded corpus of "
        "synthetic (espeak-ng) Azerbaijani speech. It shows that the pipeline learns; it is not a usable "
        "recogniser of human speech. Run full mode (`dvc exp run -S mode.sample=false`) for that.\n"
        if mode == "sample" else ""
    )
    return f"""---
{data.to_yaml()}
---

# {experiment}_final: Whisper fine-tuned for Azerbaijani
{sample_note}
Fine-tuned from `{base_model}` on {trained_on} by a reproducible DVC pipeline ({mode} mode). Language and task are
fixed in `generation_config.json` (Azerbaijani, transcribe, no timestamps), so no language argument
is needed.

## Results (held-out test split, greedy decoding)

| model | WER | CER | WER raw | CER raw |
|---|---|---|---|---|
| this model | {test['wer']:.4f} | {test['cer']:.4f} | {test['wer_raw']:.4f} | {test['cer_raw']:.4f} |
| {base_model} zero-shot | {zero_shot.get('wer', float('nan')):.4f} | {zero_shot.get('cer', float('nan')):.4f} | {zero_shot.get('wer_raw', float('nan')):.4f} | {zero_shot.get('cer_raw', float('nan')):.4f} |

Validation: WER {validation['wer']:.4f}, CER {validation['cer']:.4f} ({validation['clips']} clips).
Normalized scores lower-case with Azerbaijani rules (İ→i, I→ı) and drop punctuation; raw scores
compare the exact strings. Test split: {split_info['test']['clips']} clips, {split_info['test']['hours']:.2f} h,
no transcript or audio shared with training.

| duration | clips | WER | CER |
|---|---|---|---|
{buckets}

## Usage

```python
import soundfile as sf
import soxr
from transformers import pipeline

asr = pipeline("automatic-speech-recognition", model="artifacts/{experiment}_final")
audio, rate = sf.read("speech.wav", dtype="float32", always_2d=True)
audio = soxr.resample(audio.mean(axis=1), rate, 16000)   # mono, 16 kHz
print(asr({{"raw": audio, "sampling_rate": 16000}})["text"])
# asr("speech.wav") also works where ffmpeg is installed (transformers decodes files with it).
```

## Training

{train_summary.get('global_steps')} optimizer steps, best checkpoint by validation WER
({train_summary.get('best_validation_wer')}), hyper-parameters in `experiment_metadata.json`.

## Intended use and limitations

- Transcription of Azerbaijani speech, 16 kHz, up to 30 s per call (use chunking for longer audio).
- Trained on read or synthetic speech; accuracy drops on spontaneous, noisy, accented or
  code-switched speech, on proper names and on numbers (transcripts write numbers as words).
- Output is lower/upper case and punctuation as in the training transcripts; scores above are
  normalized.
- Not evaluated for fairness across speakers, dialects or recording conditions.

## Licenses

This model: `{card_license(base_model, mode)}`. The base weights `{base_model}` are
{base_license(base_model)}. {"The training data, " + dataset_id + ", is " + DATA_LICENSE + " (attribution, non-commercial use only): a model fine-tuned on it is offered under the same terms." if mode == "full" else "The training data is the pipeline's embedded synthetic corpus, CC0-1.0; the full-mode model, trained on LocalDoc/azerbaijani_asr, is " + DATA_LICENSE + " (non-commercial)."}
"""
