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
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from . import PipelineError
from .audio import SAMPLE_RATE
from .data import AUDIO_TYPE, check_schema, read_parquet_schema
from .fingerprint import digest, files_sha256
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


# A report entry stays small whatever the row holds (a 50 MB transcript, a 1 MB file name):
# labels and details are cut to these many bytes of JSON.
ENTRY_FIELD_BYTES = 300


def rejection(row: dict[str, Any], reason: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"id": row["id"], "audio_file": _bounded(row["audio_file"]), "reason": reason,
            "detail": _bounded(detail), **extra}


def _bounded(text: str | None, limit: int = ENTRY_FIELD_BYTES) -> str | None:
    if text is None:
        return None
    cut = text[:limit]
    while len(json.dumps(cut, ensure_ascii=False).encode()) > limit:
        cut = cut[: len(cut) * 3 // 4]
    return cut if cut == text else cut + "…"


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
            rejected.append(rejection(row, *verdict))
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
    # Keyed by the prepared shards' content, the limits and the code: never paths or mtimes.
    fingerprint = digest([[f.name, sha] for f, sha in zip(files, files_sha256(files))]
                         + [limits.__dict__, code_fingerprint()])
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
    reject_conflicting_transcripts(shards)
    shards.finish()
    return summarize(shards.records, limits)


def _accepted_keys(shards: ShardSet):
    for record in shards.records:
        yield record["name"], pq.read_table(shards.directory / record["name"], columns=["audio_sha256", "text"])


def reject_conflicting_transcripts(shards: ShardSet) -> None:
    """The same audio under different transcripts: no transcript can be trusted, so every such row
    is rejected as conflicting_transcripts (they may lie in different shards, so this runs once all
    shards are validated, on the small key columns). Idempotent across a crash: audio already
    rejected for a conflict stays in the set, so its partners in not yet rewritten shards follow."""
    keys = pa.concat_tables(
        pq.read_table(shards.directory / r["name"], columns=["id", "audio_sha256", "norm_text"])
        for r in shards.records)
    counts = keys.group_by("audio_sha256").aggregate([("norm_text", "count_distinct")])
    conflicting = set(counts.filter(pc.greater(counts["norm_text_count_distinct"], 1))["audio_sha256"].to_pylist())
    conflicting |= {e["audio_sha256"] for r in shards.records for e in r["rejected"]
                    if e["reason"] == "conflicting_transcripts"}
    if not conflicting:
        return
    hits = keys.filter(pc.is_in(keys["audio_sha256"], pa.array(sorted(conflicting))))
    rows_of: dict[str, list[str]] = {}
    for audio, row_id in zip(hits["audio_sha256"].to_pylist(), hits["id"].to_pylist()):
        rows_of.setdefault(audio, []).append(row_id)
    for index, record in enumerate(shards.records):
        table = pq.read_table(shards.directory / record["name"])
        drop = pc.is_in(table["audio_sha256"], pa.array(sorted(conflicting)))
        if not pc.any(drop).as_py():
            continue
        entries = [
            rejection(row, "conflicting_transcripts",
                      f"the same audio has different transcripts in rows {', '.join(sorted(rows_of[row['audio_sha256']])[:5])}",
                      audio_sha256=row["audio_sha256"])
            for row in table.filter(drop).select(["id", "audio_file", "audio_sha256"]).to_pylist()
        ]
        shards.rewrite(index, table.filter(pc.invert(drop)), rejected=record["rejected"] + entries)


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
