"""Batches for Whisper: decode audio, pack short clips into shared 30-s windows, log-mel features
and labels with padding masked.

Every Whisper encoder pass costs a full window however short the clip, and most clips in the
corpus are under 5 s. Packing (as distil-whisper does) concatenates several clips of a batch,
with a short silence between them, into one window and joins their transcripts, so a batch of
8 clips of 3 s costs one encoder pass instead of eight. The batch size still counts clips, so the
seed's hyper-parameters keep their meaning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .audio import SAMPLE_RATE, load_16k
from .augment import Augmenter


def pack_windows(samples: list[int], label_tokens: list[int], window: int, gap: int, max_tokens: int) -> list[list[int]]:
    """Group clip indices into windows of at most `window` samples (clips joined with `gap`
    samples of silence) and `max_tokens` label tokens; first-fit over clips longest first."""
    order = sorted(range(len(samples)), key=lambda i: -samples[i])
    windows: list[list[int]] = []
    used: list[tuple[int, int]] = []
    for i in order:
        for w, (s, t) in enumerate(used):
            if s + gap + samples[i] <= window and t + label_tokens[i] <= max_tokens:
                windows[w].append(i)
                used[w] = (s + gap + samples[i], t + label_tokens[i])
                break
        else:
            windows.append([i])
            used.append((samples[i], label_tokens[i]))
    return [sorted(w) for w in windows]


class SpeechCollator:
    """Turns rows of the split parquet (audio bytes + text) into model inputs.

    `pack=True` for training; evaluation never packs, since each clip is scored on its own.
    `augment` (training) changes each clip's waveform before packing, from the clip's id and the
    row's `epoch` (train.EpochRows adds it), so the randomness never depends on batch order.
    """

    def __init__(self, processor, pack: bool, gap_s: float = 0.2, max_label_tokens: int = 448,
                 augment: Augmenter | None = None):
        self.feature_extractor = processor.feature_extractor
        self.tokenizer = processor.tokenizer
        self.pack = pack
        self.gap = int(gap_s * SAMPLE_RATE)
        self.window = self.window_samples(processor)
        self.max_label_tokens = max_label_tokens
        self.augment = augment if augment is not None and augment.active else None
        self.decoder_start = self.tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
        self.prompt_tokens = len(self.tokenizer("").input_ids)

    @staticmethod
    def window_samples(processor) -> int:
        return int(processor.feature_extractor.n_samples)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        waves = [load_16k(row["audio"]["bytes"]) for row in rows]
        if self.augment is not None:
            waves = [self.augment(w, row["id"], row["epoch"]) for w, row in zip(waves, rows)]
        # Whisper was pre-trained on transcripts that start with a space (" Salam"), so its first
        # text token is a space-prefixed one; labels in that form start from what it already knows.
        texts = [" " + row["text"].strip() for row in rows]
        if self.pack and len(rows) > 1:
            tokens = [len(ids) + 1 for ids in self.tokenizer(texts, add_special_tokens=False).input_ids]
            budget = self.max_label_tokens - self.prompt_tokens
            groups = pack_windows([len(w) for w in waves], tokens, self.window, self.gap, budget)
            silence = np.zeros(self.gap, dtype=np.float32)
            waves = [np.concatenate([x for i in g for x in (waves[i], silence)][:-1]) for g in groups]
            texts = ["".join(texts[i] for i in g) for g in groups]
        features = self.feature_extractor(
            waves, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=False
        ).input_features
        labels = self.tokenizer(texts, padding=True, return_tensors="pt")
        # pad == eos for Whisper, so mask by attention, not by token id: the real eos stays a target.
        ids = labels.input_ids.masked_fill(labels.attention_mask.ne(1), -100)
        # The model prepends decoder_start itself when it shifts labels right.
        if (ids[:, 0] == self.decoder_start).all():
            ids = ids[:, 1:]
        batch = {"input_features": features, "labels": ids, "num_clips": torch.tensor(len(rows))}
        if not self.pack:
            # Each window's audio length, from which decoding takes its token budget.
            batch["audio_seconds"] = torch.tensor([len(w) / SAMPLE_RATE for w in waves])
        return batch
