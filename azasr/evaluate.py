"""Seed stage 10: batched greedy decoding and WER/CER, overall and per duration bucket.

Clips are decoded longest first in batches, so a batch holds clips of similar length. Each clip's
token budget comes from its audio alone (decode.TokenBudget): a model that loops stops at a bound
on tokens per second of speech, is counted as a runaway, and its transcript never depends on the
reference it is scored against.

On a CPU the encoder runs on a few windows at a time and the decoder on the whole batch: the
encoder's attention over 1,500 frames outgrows the caches at larger batches (16 windows of
whisper-base in bf16: 2.4 s at once, 1.6 s two at a time, same outputs), while a decoder step
reads all the weights whatever the batch, so the decoder wants the whole batch. Decoding is
decode.greedy_decode, which lets each clip leave the batch when it ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from . import PipelineError
from .audio import SAMPLE_RATE, load_16k
from .decode import TokenBudget, greedy_decode
from .metrics import clip_wer, error_rates
from .plots import BUCKET_LABELS, bucket_label


@dataclass
class Transcripts:
    ids: list[str]
    durations: list[float]
    references: list[str]
    hypotheses: list[str]
    runaway: list[bool]
    decode_seconds: float

    @property
    def audio_seconds(self) -> float:
        return float(sum(self.durations))


CPU_ENCODER_BATCH = 2


@torch.inference_mode()
def transcribe(model, processor, dataset, batch_size: int, budget: TokenBudget, desc: str,
               perturb: Callable[[np.ndarray, str], np.ndarray] | None = None) -> Transcripts:
    """Greedy transcripts of a split (`datasets.Dataset` with id, audio, text, duration), on the
    model's device, with its encoder and decoder each in its own dtype (precision.for_inference).
    `perturb(wave, clip id)` changes each clip before decoding (augment.NoisyCopy: the noisy test).

    Reads the memory-mapped split a batch at a time, longest clips first; returns clips in that
    order.
    """
    dataset = dataset.sort("duration", reverse=True)
    device = model.device
    encoder, encoder_batch = model.get_encoder(), CPU_ENCODER_BATCH if device.type == "cpu" else batch_size
    out = Transcripts([], [], [], [], [], 0.0)
    start = time.perf_counter()
    for begin in tqdm(range(0, len(dataset), batch_size), desc=desc, unit="batch", mininterval=2):
        batch = dataset[begin:begin + batch_size]
        waves = [load_16k(audio["bytes"]) for audio in batch["audio"]]
        if perturb is not None:
            waves = [perturb(wave, clip_id) for wave, clip_id in zip(waves, batch["id"])]
        features = processor.feature_extractor(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        features = features.to(device, encoder.conv1.weight.dtype)
        encoded = torch.cat([encoder(features[i:i + encoder_batch]).last_hidden_state
                             for i in range(0, len(features), encoder_batch)]).to(model.proj_out.weight.dtype)
        decoded = greedy_decode(model, encoded, [budget.for_duration(len(w) / SAMPLE_RATE) for w in waves])
        out.hypotheses += [t.strip() for t in processor.tokenizer.batch_decode(decoded.tokens, skip_special_tokens=True)]
        out.runaway += decoded.runaway.tolist()
        out.ids += batch["id"]
        out.durations += [float(d) for d in batch["duration"]]
        out.references += batch["text"]
    out.decode_seconds = time.perf_counter() - start
    return out


def decode_splits(resolved, splits: dict[str, Any], batch_size: int, device: str, precision: str,
                  budget: TokenBudget | None = None,
                  perturb: dict[str, Callable[[np.ndarray, str], np.ndarray]] | None = None) -> dict[str, Transcripts]:
    """Transcripts of each split by one model (a `model.ResolvedModel`), with the token budget its
    generation config carries (a fine-tuned model's) or `budget` (a base model has none); a split
    named in `perturb` is decoded through its function (e.g. {"test_noisy": NoisyCopy(...)})."""
    from .model import load_model
    from .precision import for_inference

    model, processor = load_model(resolved)
    budget = TokenBudget.from_generation_config(model.generation_config) or budget
    if budget is None:
        raise PipelineError(f"{resolved.source} carries no token budget (generation_config.json "
                            "token_budget); retrain it with this version of the pipeline")
    model = for_inference(model.to(device), precision)
    perturb = perturb or {}
    return {name: transcribe(model, processor, ds, batch_size, budget, f"{name} ({resolved.source})", perturb.get(name))
            for name, ds in splits.items()}


def score(result: Transcripts) -> dict[str, Any]:
    """Overall WER/CER (normalized and raw), per duration bucket, and decoding speed."""
    scores: dict[str, Any] = {"clips": len(result.ids), **_rounded(error_rates(result.references, result.hypotheses))}
    buckets = np.array([bucket_label(d) for d in result.durations])
    scores["by_duration"] = {}
    for label in BUCKET_LABELS:
        idx = np.flatnonzero(buckets == label)
        if len(idx):
            rates = error_rates([result.references[i] for i in idx], [result.hypotheses[i] for i in idx])
            scores["by_duration"][label] = {"clips": len(idx), "wer": round(rates["wer"], 4), "cer": round(rates["cer"], 4)}
    scores["runaway"] = int(sum(result.runaway))
    scores["decode_seconds"] = round(result.decode_seconds, 2)
    scores["real_time_factor"] = round(result.decode_seconds / max(result.audio_seconds, 1e-9), 4)
    return scores


def _rounded(rates: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in rates.items()}


def prediction_rows(result: Transcripts) -> list[dict[str, Any]]:
    return [{"id": clip_id, "duration": round(result.durations[i], 3), "reference": result.references[i],
             "hypothesis": result.hypotheses[i], "runaway": result.runaway[i],
             "wer": round(clip_wer(result.references[i], result.hypotheses[i]), 4)}
            for i, clip_id in enumerate(result.ids)]
