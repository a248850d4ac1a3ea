"""WER and CER with jiwer, raw and after the Azerbaijani normalizer.

Raw scores compare the exact strings (case and punctuation count); normalized scores, the ones
the pipeline optimizes and reports first, compare `normalize_text` output.
"""

from __future__ import annotations

import jiwer

from .text import normalize_text


def _rates(refs: list[str], hyps: list[str]) -> tuple[float, float]:
    # jiwer refuses empty references; a clip whose reference is empty after normalization was
    # rejected by validation, so only hypotheses can be empty here. Keep a placeholder word so
    # that an empty reference in hand-made data still counts every hypothesis word as an error.
    refs = [r if r.strip() else "∅" for r in refs]
    return jiwer.wer(refs, hyps), jiwer.cer(refs, hyps)


def error_rates(refs: list[str], hyps: list[str]) -> dict[str, float]:
    """{"wer", "cer"} normalized and {"wer_raw", "cer_raw"} on the exact strings."""
    if not refs:
        return {"wer": float("nan"), "cer": float("nan"), "wer_raw": float("nan"), "cer_raw": float("nan")}
    wer, cer = _rates([normalize_text(r) for r in refs], [normalize_text(h) for h in hyps])
    wer_raw, cer_raw = _rates([r.strip() for r in refs], [h.strip() for h in hyps])
    return {"wer": wer, "cer": cer, "wer_raw": wer_raw, "cer_raw": cer_raw}


def clip_wer(ref: str, hyp: str) -> float:
    return _rates([normalize_text(ref)], [normalize_text(hyp)])[0]
