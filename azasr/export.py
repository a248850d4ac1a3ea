"""Seed stage 12: the model a user loads with `pipeline()`, its metadata and its model card."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

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


def model_card(*, experiment: str, base_model: str, test: dict[str, Any], validation: dict[str, Any],
               split_info: dict[str, Any], train_summary: dict[str, Any], mode: str, data_source: str) -> str:
    zero_shot = test.get("zero_shot", {})
    front = {
        "language": ["az"],
        "license": base_license(base_model),
        "license_details": f"weights: {base_license(base_model)} (base model {base_model}); "
                           f"training data: {DATA_LICENSE} (non-commercial)",
        "library_name": "transformers",
        "pipeline_tag": "automatic-speech-recognition",
        "base_model": base_model,
        "tags": ["whisper", "azerbaijani", "asr", "dvc"],
        "datasets": ["LocalDoc/azerbaijani_asr"] if mode == "full" else [],
        "metrics": ["wer", "cer"],
        "model-index": [{
            "name": f"{experiment}_final",
            "results": [{
                "task": {"type": "automatic-speech-recognition", "name": "Speech Recognition"},
                "dataset": {"type": data_source, "name": f"{data_source} (held-out test split)", "split": "test"},
                "metrics": [
                    {"type": "wer", "value": round(100 * test["wer"], 2), "name": "WER (normalized, %)"},
                    {"type": "cer", "value": round(100 * test["cer"], 2), "name": "CER (normalized, %)"},
                ],
            }],
        }],
    }
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
{yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip()}
---

# {experiment}_final: Whisper fine-tuned for Azerbaijani
{sample_note}
Fine-tuned from `{base_model}` by a reproducible DVC pipeline ({mode} mode). Language and task are
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

Weights: {base_license(base_model)} (from `{base_model}`). Training data: LocalDoc/azerbaijani_asr,
{DATA_LICENSE} (non-commercial use only) in full mode; the embedded sample corpus is CC0-1.0.
"""
