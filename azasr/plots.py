"""Matplotlib helpers shared by the EDA and report stages: headless backend, atomic saves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_path  # noqa: E402

# The seed's duration buckets, and the share of the full corpus in each (from its dataset card).
DURATION_BUCKETS = ((0, 2), (2, 5), (5, 10), (10, 20), (20, float("inf")))
BUCKET_LABELS = ("0-2 s", "2-5 s", "5-10 s", "10-20 s", "20+ s")
FULL_CORPUS_BUCKET_PCT = (36.1, 47.2, 14.6, 2.0, 0.1)


def bucket_label(duration: float) -> str:
    for (lo, hi), label in zip(DURATION_BUCKETS, BUCKET_LABELS):
        if lo <= duration < hi:
            return label
    return BUCKET_LABELS[-1]


def save(fig, path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


__all__ = ["plt", "save", "bucket_label", "DURATION_BUCKETS", "BUCKET_LABELS", "FULL_CORPUS_BUCKET_PCT"]
