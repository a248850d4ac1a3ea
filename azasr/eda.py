"""Stage 5 of the seed: what a person studying the corpus wants to see, from validated data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .plots import BUCKET_LABELS, FULL_CORPUS_BUCKET_PCT, bucket_label, plt, save
from .shards import shard_files

AZ_ALPHABET = "abcçdeəfgğhxıijkqlmnoöprsştuüvyz"


def load_columns(in_dir: str) -> pd.DataFrame:
    files = shard_files(in_dir)
    table = pa.concat_tables(pq.read_table(f, columns=["duration", "text", "norm_text"]) for f in files)
    frame = table.to_pandas()
    frame["chars"] = frame["text"].str.len()
    frame["words"] = frame["norm_text"].str.split().str.len()
    return frame


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    d, c, w = frame["duration"], frame["chars"], frame["words"]
    words = Counter(word for text in frame["norm_text"] for word in text.split())
    rows: list[tuple[str, str, Any]] = [
        ("corpus", "clips", len(frame)),
        ("corpus", "hours", round(d.sum() / 3600, 4)),
        ("corpus", "unique_transcripts", frame["norm_text"].nunique()),
        ("corpus", "vocabulary_words", len(words)),
        ("corpus", "singleton_words", sum(1 for n in words.values() if n == 1)),
    ]
    for name, series, unit in (("duration", d, "s"), ("characters", c, "chars"), ("words", w, "words")):
        for stat, value in (("mean", series.mean()), ("median", series.median()), ("min", series.min()),
                            ("p95", series.quantile(0.95)), ("max", series.max())):
            rows.append((name, f"{stat}_{unit}", round(float(value), 3)))
    buckets = frame["duration"].map(bucket_label).value_counts()
    for label, reference in zip(BUCKET_LABELS, FULL_CORPUS_BUCKET_PCT):
        rows.append(("duration_bucket", f"{label} pct", round(100 * buckets.get(label, 0) / len(frame), 2)))
        rows.append(("duration_bucket", f"{label} pct full corpus (seed)", reference))
    rows.append(("speech_rate", "chars_per_s_mean", round(float((c / d).mean()), 3)))
    return pd.DataFrame(rows, columns=["section", "statistic", "value"])


def letter_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = Counter(ch for text in frame["norm_text"] for ch in text if ch in AZ_ALPHABET)
    return {ch: counts.get(ch, 0) for ch in AZ_ALPHABET}


def plot_durations(frame: pd.DataFrame, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.hist(frame["duration"], bins=40, color="#3b75af", edgecolor="white")
    left.axvline(frame["duration"].median(), color="#c44e52", ls="--", label=f"median {frame['duration'].median():.2f} s")
    left.set(title=f"Clip duration ({len(frame)} clips, {frame['duration'].sum() / 3600:.2f} h)",
             xlabel="seconds", ylabel="clips")
    left.legend()
    shares = frame["duration"].map(bucket_label).value_counts(normalize=True)
    x = np.arange(len(BUCKET_LABELS))
    right.bar(x - 0.2, [100 * shares.get(b, 0) for b in BUCKET_LABELS], 0.4, label="this corpus", color="#3b75af")
    right.bar(x + 0.2, FULL_CORPUS_BUCKET_PCT, 0.4, label="full corpus (seed)", color="#bbbbbb")
    right.set(xticks=x, xticklabels=BUCKET_LABELS, ylabel="% of clips", title="Duration buckets")
    right.legend()
    save(fig, path)


def plot_text_lengths(frame: pd.DataFrame, path: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    axes[0].hist(frame["chars"], bins=40, color="#55a868", edgecolor="white")
    axes[0].set(title="Transcript length", xlabel="characters", ylabel="clips")
    axes[1].hist(frame["words"], bins=range(1, int(frame["words"].max()) + 2), color="#8172b2", edgecolor="white")
    axes[1].set(title="Transcript length", xlabel="words", ylabel="clips")
    axes[2].scatter(frame["duration"], frame["chars"], s=6, alpha=0.5, color="#dd8452")
    axes[2].set(title="Characters vs duration", xlabel="seconds", ylabel="characters")
    save(fig, path)


def plot_letters(counts: dict[str, int], path: Path) -> None:
    total = sum(counts.values()) or 1
    fig, ax = plt.subplots(figsize=(12, 4))
    special = set("çəğıöşü")
    ax.bar(list(counts), [100 * n / total for n in counts.values()],
           color=["#c44e52" if ch in special else "#3b75af" for ch in counts])
    ax.set(title="Letter frequency (red: letters beyond the basic Latin alphabet)", ylabel="% of letters")
    save(fig, path)
