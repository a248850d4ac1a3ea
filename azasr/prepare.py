"""Stage 3 of the seed: load the corpus as a stream, decode, down-mix and resample to 16 kHz mono.

Every source row comes out as one prepared row. Audio that cannot be used is not dropped here:
the row keeps its id and text, its audio becomes null and `error` says why, so the validate
stage can record the rejection with its reason.

Memory is bounded by bytes, not rows: source batches, the rows handed to the workers and the rows
waiting for a shard are each capped in bytes, audio is decoded no further than
`validate.max_duration_s` (longer clips are rejected here, never stored), and a transcript of more
than MAX_TEXT_BYTES is rejected before any text processing.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from . import PipelineError
from .audio import MAX_DECODE_SECONDS, AudioError, encode_flac, load_16k
from .data import AUDIO_TYPE, Source, count_rows, iter_source, row_id, source_fingerprint
from .fingerprint import digest
from .shards import ShardSet
from .stage import code_fingerprint

# No 448-token Whisper label is anywhere near this long; a longer transcript could only be rejected
# as too_many_tokens, after tokenizing megabytes. Rejected at once instead, and never stored.
MAX_TEXT_BYTES = 64 << 10
# Audio bytes handed to the workers at once, and prepared rows held for one shard at most.
IN_FLIGHT_BYTES = 128 << 20
SHARD_BYTES = 256 << 20

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


def prepare_row(item: tuple[int, dict[str, Any]], max_audio_bytes: int,
                max_seconds: float = MAX_DECODE_SECONDS) -> dict[str, Any]:
    index, row = item
    audio = row.get("audio") or {}
    data = audio.get("bytes") if isinstance(audio, dict) else None
    text = row.get("text")
    out = {
        "id": row_id(index),
        "audio": None,
        "text": text,
        "duration": _as_float(row.get("duration")),
        "audio_file": row.get("audio_file"),
        "num_samples": None,
        "peak": None,
        "error": None,
    }
    try:
        if row.get("invalid_utf8"):
            out["text"] = None
            raise AudioError("invalid_utf8", f"{', '.join(row['invalid_utf8'])} is not valid UTF-8")
        if isinstance(text, str) and len(text) > MAX_TEXT_BYTES // 4 and len(text.encode()) > MAX_TEXT_BYTES:
            out["text"] = None
            raise AudioError("text_too_long", f"{len(text.encode())} bytes of text > {MAX_TEXT_BYTES}")
        if data is None:
            raise AudioError("missing_audio", "no audio bytes")
        if len(data) > max_audio_bytes:
            raise AudioError("audio_too_large", f"{len(data)} bytes > data.max_audio_bytes={max_audio_bytes}")
        waveform = load_16k(data, max_seconds)
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
    max_seconds: float,
    workers: int = 1,
) -> dict[str, Any]:
    total = count_rows(source)
    selected = select_rows(total, sample_size, seed)
    # Keyed by content (the source's file hashes or hub commit), settings and code: never by paths
    # or mtimes, so a fresh clone resumes, and writes, exactly what this one does.
    fingerprint = digest([source_fingerprint(source), sample_size, seed, shard_size, max_audio_bytes,
                          max_seconds, code_fingerprint()])
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
    buffer: list[dict[str, Any]] = []
    buffered_bytes = 0
    task = _PrepareTask(max_audio_bytes, max_seconds)
    # The bar closes (ends its line) on an error too, so the stage's error line stands on its own.
    with tqdm(total=wanted, initial=done_rows, unit="clip", desc="prepare", mininterval=2) as bar, \
            _worker_pool(workers) as pool:
        while batch := _take(rows, 64 * max(1, workers)):
            for prepared in _map(pool, task, batch):
                buffer.append(prepared)
                buffered_bytes += len(prepared["audio"]["bytes"]) if prepared["audio"] else 0
                bar.update()
                if len(buffer) == shard_size or buffered_bytes >= SHARD_BYTES:
                    _flush(shards, buffer)
                    buffer, buffered_bytes = [], 0
            del batch  # before the next one is read: never two batches of audio alive at once
        if buffer:
            _flush(shards, buffer)
    shards.finish()
    return {"rows": sum(r["rows"] for r in shards.records), "source_rows": total}


def _take(rows: Iterator[tuple[int, dict]], max_rows: int) -> list[tuple[int, dict]]:
    """The next rows for the workers: at most `max_rows`, and no more audio than IN_FLIGHT_BYTES
    (at least one row)."""
    batch, size = [], 0
    for item in rows:
        batch.append(item)
        audio = item[1].get("audio") or {}
        size += len(audio.get("bytes") or b"") if isinstance(audio, dict) else 0
        if len(batch) >= max_rows or size >= IN_FLIGHT_BYTES:
            break
    return batch


def _map(pool: ProcessPoolExecutor | None, task: "_PrepareTask", batch: list) -> list[dict[str, Any]]:
    if pool is None:
        return [task(item) for item in batch]
    try:
        return list(pool.map(task, batch, chunksize=8))
    except BrokenProcessPool:
        raise PipelineError(
            f"a prepare worker died while decoding rows {row_id(batch[0][0])}..{row_id(batch[-1][0])} "
            "(killed: out of memory, or a crash in an audio codec); the shards finished so far are kept "
            "and a rerun resumes after them (data.workers: 1 decodes in the stage's own process)"
        ) from None


class _PrepareTask:
    """Picklable prepare_row with its limits bound, for the worker pool."""

    def __init__(self, max_audio_bytes: int, max_seconds: float):
        self.max_audio_bytes = max_audio_bytes
        self.max_seconds = max_seconds

    def __call__(self, item: tuple[int, dict[str, Any]]) -> dict[str, Any]:
        return prepare_row(item, self.max_audio_bytes, self.max_seconds)


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
    """A process pool when workers > 1, else None (plain map in this process). A worker that dies
    breaks the pool at once (BrokenProcessPool), where multiprocessing.Pool would wait forever."""
    if workers <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
