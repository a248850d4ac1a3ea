"""Stage 3 of the seed: load the corpus as a stream, decode, down-mix and resample to 16 kHz mono.

Every source row comes out as one prepared row. Audio that cannot be used is not dropped here:
the row keeps its id and text, its audio becomes null and `error` says why, so the validate
stage can record the rejection with its reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import multiprocessing
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from .audio import SAMPLE_RATE, AudioError, encode_flac, load_16k
from .data import AUDIO_TYPE, Source, count_rows, iter_source, row_id
from .shards import ShardSet
from .stage import code_fingerprint

log = logging.getLogger(__name__)

PREPARED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("audio", AUDIO_TYPE),
        ("text", pa.string()),
        ("duration", pa.float64()),     # as stated by the source
        ("audio_file", pa.string()),
        ("num_samples", pa.int64()),    # at 16 kHz, after resampling
        ("peak", pa.float32()),         # largest absolute sample
        ("error", pa.string()),         # "reason: detail" when the audio is unusable, else null
    ]
)


def prepare_row(item: tuple[int, dict[str, Any]], max_audio_bytes: int) -> dict[str, Any]:
    index, row = item
    audio = row.get("audio") or {}
    data = audio.get("bytes") if isinstance(audio, dict) else None
    out = {
        "id": row_id(index),
        "audio": None,
        "text": row.get("text"),
        "duration": _as_float(row.get("duration")),
        "audio_file": row.get("audio_file"),
        "num_samples": None,
        "peak": None,
        "error": None,
    }
    try:
        if data is None:
            raise AudioError("missing_audio", "no audio bytes")
        if len(data) > max_audio_bytes:
            raise AudioError("audio_too_large", f"{len(data)} bytes > data.max_audio_bytes={max_audio_bytes}")
        waveform = load_16k(data)
        if waveform.size == 0:
            raise AudioError("empty_audio", "zero samples")
        if not np.isfinite(waveform).all():
            raise AudioError("non_finite_samples", "NaN or Inf in the waveform")
    except AudioError as exc:
        out["error"] = str(exc)
        return out
    name = audio.get("path") or row.get("audio_file") or f"{out['id']}.flac"
    out["audio"] = {"bytes": encode_flac(waveform), "path": str(name)}
    out["num_samples"] = int(waveform.size)
    out["peak"] = float(np.max(np.abs(waveform)))
    return out


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def select_rows(total: int, sample_size: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of the seeded sample, or None to keep every row."""
    if sample_size is None or sample_size >= total:
        return None
    return np.sort(np.random.default_rng(seed).choice(total, size=sample_size, replace=False))


def run_prepare(
    source: Source,
    out_dir: str,
    *,
    sample_size: int | None,
    seed: int,
    shard_size: int,
    max_audio_bytes: int,
    workers: int = 1,
) -> dict[str, Any]:
    total = count_rows(source)
    selected = select_rows(total, sample_size, seed)
    fingerprint = hashlib.sha256(
        json.dumps([source.fingerprint(), sample_size, seed, shard_size, max_audio_bytes, code_fingerprint()]).encode()
    ).hexdigest()
    shards = ShardSet(out_dir, fingerprint)
    wanted = total if selected is None else len(selected)
    done_rows = sum(r["rows"] for r in shards.records)
    if shards.complete:
        log.info("%s already prepared (%d rows); nothing to do", out_dir, done_rows)
        return {"rows": done_rows, "source_rows": total}
    next_index = shards.records[-1]["next_index"] if shards.records else 0
    if done_rows:
        log.info("resuming after %d prepared rows (%d shards)", done_rows, len(shards.records))

    rows = _selected(iter_source(source, skip=next_index), selected)
    bar = tqdm(total=wanted, initial=done_rows, unit="clip", desc="prepare", mininterval=2)
    buffer: list[dict[str, Any]] = []
    task = _PrepareTask(max_audio_bytes)
    with _worker_pool(workers) as pool:
        # Bounded batches: Pool.imap would read the whole stream ahead into its task queue.
        while batch := list(itertools.islice(rows, 64 * max(1, workers))):
            for prepared in (pool.map(task, batch, chunksize=8) if pool else map(task, batch)):
                buffer.append(prepared)
                bar.update()
                if len(buffer) == shard_size:
                    _flush(shards, buffer)
                    buffer = []
        if buffer:
            _flush(shards, buffer)
    bar.close()
    shards.finish()
    return {"rows": sum(r["rows"] for r in shards.records), "source_rows": total}


class _PrepareTask:
    """Picklable prepare_row with its limit bound, for the worker pool."""

    def __init__(self, max_audio_bytes: int):
        self.max_audio_bytes = max_audio_bytes

    def __call__(self, item: tuple[int, dict[str, Any]]) -> dict[str, Any]:
        return prepare_row(item, self.max_audio_bytes)


def _selected(rows: Iterable[tuple[int, dict]], selected: np.ndarray | None) -> Iterator[tuple[int, dict]]:
    if selected is None:
        yield from rows
        return
    wanted = set(selected.tolist())
    last = int(selected[-1])
    for index, row in rows:
        if index in wanted:
            yield index, row
        if index >= last:
            return


def _flush(shards: ShardSet, buffer: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(buffer, schema=PREPARED_SCHEMA)
    next_index = int(buffer[-1]["id"]) + 1
    shards.write(f"part-{len(shards.records):05d}.parquet", table, next_index=next_index)


@contextlib.contextmanager
def _worker_pool(workers: int):
    """A process pool when workers > 1, else None (plain map in this process)."""
    if workers <= 1:
        yield None
        return
    pool = multiprocessing.get_context("spawn").Pool(workers)
    try:
        yield pool
    finally:
        pool.terminate()
