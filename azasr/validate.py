"""Stage 4 of the seed: schema and per-row checks. Each rejected row is recorded with its reason;
accepted rows are written, with clean text, measured duration and an audio hash, to new shards.
The input is never edited."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from . import PipelineError
from .audio import SAMPLE_RATE
from .data import AUDIO_TYPE, check_schema, read_parquet_schema
from .shards import ShardSet, shard_files
from .stage import code_fingerprint
from .text import clean_text, normalize_text
from .tokens import label_lengths

log = logging.getLogger(__name__)

VALIDATED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("audio", AUDIO_TYPE),
        ("text", pa.string()),          # NFC, control characters removed
        ("duration", pa.float64()),     # measured from the samples
        ("audio_file", pa.string()),
        ("norm_text", pa.string()),     # Azerbaijani-normalized, for grouping and scoring
        ("audio_sha256", pa.string()),
    ]
)


@dataclass(frozen=True)
class Limits:
    min_duration_s: float
    max_duration_s: float
    duration_tolerance_s: float
    silence_peak_dbfs: float
    max_label_tokens: int
    max_rejected_fraction: float

    @classmethod
    def from_params(cls, section: dict[str, Any]) -> "Limits":
        return cls(**{k: section[k] for k in cls.__dataclass_fields__})


def check_row(row: dict[str, Any], limits: Limits, label_length: int) -> tuple[str, str] | None:
    """(reason, detail) when the row must be rejected, else None. Duplicates are checked apart."""
    if row["error"]:
        reason, _, detail = row["error"].partition(": ")
        return reason, detail
    real = row["num_samples"] / SAMPLE_RATE
    if row["peak"] < 10 ** (limits.silence_peak_dbfs / 20):
        return "digital_silence", f"peak {row['peak']:.2e} below {limits.silence_peak_dbfs} dBFS"
    if real < limits.min_duration_s:
        return "too_short", f"{real:.2f} s < {limits.min_duration_s} s"
    if real > limits.max_duration_s:
        return "too_long", f"{real:.2f} s > {limits.max_duration_s} s"
    stated = row["duration"]
    if stated is not None and not (math.isfinite(stated) and abs(stated - real) <= limits.duration_tolerance_s):
        return "duration_mismatch", f"stated {stated} s, real {real:.2f} s"
    if not row["norm_text"]:
        return "empty_text", "null" if row["text"] is None else f"{row['text']!r} has no words"
    if label_length > limits.max_label_tokens:
        return "too_many_tokens", f"{label_length} label tokens > {limits.max_label_tokens}"
    return None


def duplicate_key(audio_sha256: str, text: str) -> bytes:
    """16 bytes per accepted clip: the duplicate check stays small at full scale."""
    return hashlib.sha256(f"{audio_sha256}:{text}".encode()).digest()[:16]


def validate_table(table: pa.Table, limits: Limits, seen: set[bytes]) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Check one prepared shard. `seen` holds the keys of rows accepted so far (for duplicates)."""
    rows = table.to_pylist()
    for row in rows:
        row["text"] = clean_text(row["text"]) if isinstance(row["text"], str) else None
        row["norm_text"] = normalize_text(row["text"]) if row["text"] else ""
    lengths = label_lengths([row["text"] or "" for row in rows])
    accepted, rejected = [], []
    for row, length in zip(rows, lengths):
        verdict = check_row(row, limits, length)
        if verdict is None:
            row["audio_sha256"] = hashlib.sha256(row["audio"]["bytes"]).hexdigest()
            key = duplicate_key(row["audio_sha256"], row["text"])
            if key in seen:
                verdict = ("duplicate", "same audio and transcript as an earlier row")
            seen.add(key)
        if verdict:
            rejected.append({"id": row["id"], "audio_file": row["audio_file"], "reason": verdict[0], "detail": verdict[1]})
            continue
        row["duration"] = row["num_samples"] / SAMPLE_RATE
        accepted.append(row)
    return pa.Table.from_pylist(accepted, schema=VALIDATED_SCHEMA), rejected


def run_validate(in_dir: str, out_dir: str, limits: Limits) -> dict[str, Any]:
    files = shard_files(in_dir)
    if not files:
        raise PipelineError(f"{in_dir} holds no prepared shards; run the prepare stage first")
    for f in files:
        check_schema(read_parquet_schema(f), str(f))
    fingerprint = hashlib.sha256(
        json.dumps([[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]
                   + [limits.__dict__, code_fingerprint()]).encode()
    ).hexdigest()
    shards = ShardSet(out_dir, fingerprint)
    seen: set[bytes] = set()
    for _, table in _accepted_keys(shards):
        seen.update(duplicate_key(a, t) for a, t in zip(table["audio_sha256"].to_pylist(), table["text"].to_pylist()))
    for f in tqdm(files, unit="shard", desc="validate"):
        if f.name in shards.done_names:
            continue
        table = pq.read_table(f)
        accepted, rejected = validate_table(table, limits, seen)
        shards.write(f.name, accepted, rows_in=table.num_rows, rejected=rejected)
    shards.finish()
    return summarize(shards.records, limits)


def _accepted_keys(shards: ShardSet):
    for record in shards.records:
        yield record["name"], pq.read_table(shards.directory / record["name"], columns=["audio_sha256", "text"])


def summarize(records: list[dict[str, Any]], limits: Limits) -> dict[str, Any]:
    rejected = [r for record in records for r in record["rejected"]]
    total = sum(record["rows_in"] for record in records)
    return {
        "total": total,
        "accepted": total - len(rejected),
        "rejected": len(rejected),
        "rejected_fraction": round(len(rejected) / total, 6) if total else 0.0,
        "reasons": dict(sorted(Counter(r["reason"] for r in rejected).items())),
        "limits": limits.__dict__,
        "rejected_rows": rejected,
    }
