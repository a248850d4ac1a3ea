"""Stage 6 of the seed: train/validation/test split with no leakage.

Clips are grouped so that one normalized transcript, or one audio, never lands in two splits
(same audio under different transcripts joins their groups). Groups are ordered by a seeded hash
of their key. Only the key columns are held in memory, as arrow arrays and integer codes: no
audio, and no Python object per clip.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from . import PipelineError
from .data import CORPUS_SCHEMA
from .shards import shard_files

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
SPLIT_SCHEMA = pa.schema([("id", pa.string()), *CORPUS_SCHEMA])


def bucket(key: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the key and the seed."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _codes(values) -> tuple[np.ndarray, pa.Array]:
    """Integer code per clip and the distinct values, via arrow (no Python object per clip)."""
    encoded = pc.dictionary_encode(pa.chunked_array([values]) if not isinstance(values, pa.ChunkedArray)
                                   else values).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def _ranks(values: pa.Array) -> np.ndarray:
    """Rank of each distinct value in sorted order."""
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[pc.sort_indices(values).to_numpy()] = np.arange(len(values))
    return ranks


def group_of_clips(text_codes: np.ndarray, audio_codes: np.ndarray, text_rank: np.ndarray) -> np.ndarray:
    """Connected components of the graph that links a transcript and an audio whenever one clip
    has both. Each clip gets its component's smallest transcript rank, which does not depend on
    the order the clips were read in.

    Union-find over transcripts, one pass over the clips: near-linear whatever the linkage (a chain
    of clips alternately sharing audio and transcript is one pass, not one round per link), and
    two integer lists of the number of transcripts in memory.
    """
    parent = list(range(len(text_rank)))

    def root(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]  # path halving
            t = parent[t]
        return t

    first_text_of_audio: dict[int, int] = {}
    for t, a in zip(text_codes.tolist(), audio_codes.tolist()):
        other = first_text_of_audio.setdefault(a, t)
        if other != t:
            ra, rb = root(t), root(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.fromiter((root(t) for t in range(len(parent))), dtype=np.int64, count=len(parent))
    smallest_rank = np.full(len(parent), np.iinfo(np.int64).max)
    np.minimum.at(smallest_rank, roots, text_rank)
    return smallest_rank[roots][text_codes]


def split_indices(norm_texts, audio_hashes, ratios: dict[str, float], seed: int) -> np.ndarray:
    """Index into SPLITS for each clip; clips sharing a transcript or an audio share a split.

    Groups are ordered by a seeded hash of their smallest audio hash and cut at the cumulative
    clip counts that give the ratios, so split sizes match the ratios up to one group (a pure
    hash threshold misses them by several percent on a 500-clip sample). Memory is a few
    integers per clip.
    """
    total = sum(ratios[s] for s in SPLITS)
    if total <= 0 or any(ratios[s] < 0 for s in SPLITS):
        raise PipelineError(f"split ratios must be non-negative and sum to more than 0, got {ratios}")
    text_codes, texts = _codes(norm_texts)
    audio_codes, audios = _codes(audio_hashes)
    if not len(text_codes):
        return np.zeros(0, dtype=np.int64)
    groups, clip_group, sizes = np.unique(group_of_clips(text_codes, audio_codes, _ranks(texts)),
                                          return_inverse=True, return_counts=True)
    # A group is named by its smallest audio hash: independent of reading order and sharding.
    audio_rank = _ranks(audios)
    smallest = np.full(len(groups), np.iinfo(np.int64).max)
    np.minimum.at(smallest, clip_group, audio_rank[audio_codes])
    by_rank = pc.sort_indices(audios).to_numpy()
    keys = audios.take(pa.array(by_rank[smallest])).to_pylist()
    order = np.lexsort((groups, np.array([bucket(f"a:{k}", seed) for k in keys])))
    placed = np.cumsum(sizes[order]) - sizes[order]
    edges = np.cumsum([ratios[s] / total for s in SPLITS]) * len(text_codes)
    # A group goes where its middle falls, so boundary groups land on the nearer side.
    group_split = np.empty(len(groups), dtype=np.int64)
    group_split[order] = np.minimum(np.searchsorted(edges, placed + sizes[order] / 2, side="right"), len(SPLITS) - 1)
    return group_split[clip_group]


def assign_splits(norm_texts, audio_hashes, ratios: dict[str, float], seed: int) -> list[str]:
    return [SPLITS[i] for i in split_indices(norm_texts, audio_hashes, ratios, seed)]


def ids_hash(ids: pa.Array) -> str:
    ordered = pc.sort_indices(ids)
    return hashlib.sha256("\n".join(ids.take(ordered).to_pylist()).encode()).hexdigest()


def content_hash(part: pa.Table) -> str:
    """sha256 of a split's clips by content (id, transcript, audio hash), in id order: corrected
    transcripts or audio under the same ids give another hash, so work keyed by it is redone."""
    rows = pc.binary_join_element_wise(part["id"], part["text"], part["audio_sha256"], "\t")
    return hashlib.sha256("\n".join(rows.take(pc.sort_indices(part["id"])).to_pylist()).encode()).hexdigest()


def run_split(in_dir: str, out_dir: str, ratios: dict[str, float], seed: int) -> dict[str, Any]:
    files = shard_files(in_dir)
    if not files:
        raise PipelineError(f"{in_dir} holds no validated shards; run the validate stage first")
    keys = pa.concat_tables(pq.read_table(f, columns=["id", "text", "norm_text", "audio_sha256", "duration"])
                            for f in files).combine_chunks()
    split = split_indices(keys["norm_text"], keys["audio_sha256"], ratios, seed)
    empty = [name for index, name in enumerate(SPLITS) if ratios[name] > 0 and not (split == index).any()]
    if empty:
        raise PipelineError(
            f"{len(split)} validated clip(s) give no clip to the {' and '.join(empty)} split (ratios "
            f"{ratios}; clips sharing a transcript or an audio stay together): the corpus is too small; "
            "use more data (data.sample_size) or set the ratio of a split you do not need to 0"
        )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    offset = 0
    with _SplitWriters(out) as writers:
        for f in tqdm(files, unit="shard", desc="split"):
            # Shards are read in the order the keys were, so a running offset finds each row's split.
            table = pq.read_table(f, columns=SPLIT_SCHEMA.names)
            rows = pa.array(split[offset:offset + table.num_rows])
            offset += table.num_rows
            for index, name in enumerate(SPLITS):
                part = table.filter(pc.equal(rows, index))
                if part.num_rows:
                    writers.write(name, part.cast(SPLIT_SCHEMA))

    info = {"seed": seed, "ratios": {s: ratios[s] for s in SPLITS}, "grouping": "normalized transcript and audio"}
    durations = keys["duration"].to_numpy()
    for index, name in enumerate(SPLITS):
        mask = split == index
        part = keys.filter(pa.array(mask))
        info[name] = {
            "clips": int(mask.sum()),
            "fraction": round(float(mask.mean()), 4) if len(mask) else 0.0,
            "hours": round(float(durations[mask].sum()) / 3600, 4),
            "transcripts": pc.count_distinct(part["norm_text"]).as_py(),
            "ids_sha256": ids_hash(part["id"]),
            "content_sha256": content_hash(part),
        }
    info["overlap"] = check_no_leakage(keys, split)
    for name in SPLITS:
        written = pq.read_table(out / f"{name}.parquet", columns=["id"])["id"].combine_chunks()
        if ids_hash(written) != info[name]["ids_sha256"]:
            raise PipelineError(f"{out / name}.parquet does not hold exactly the clips assigned to {name}")
    return info


def check_no_leakage(keys: pa.Table, split: np.ndarray) -> dict[str, int]:
    """Count ids, transcripts and audios found in more than one split; raise if any."""
    overlap = {}
    for column in ("id", "norm_text", "audio_sha256"):
        codes, _ = _codes(keys[column])
        pairs = np.unique(np.stack([codes, np.asarray(split)]), axis=1)
        overlap[column] = int((np.bincount(pairs[0]) > 1).sum()) if pairs.size else 0
    if any(overlap.values()):
        raise PipelineError(f"split leakage detected: {overlap}")
    return overlap


class _SplitWriters:
    """One parquet file per split, written a shard at a time beside its target and renamed into
    place only when every split is complete."""

    def __init__(self, out: Path):
        self.out = out
        self.writers = {name: pq.ParquetWriter(self._tmp(name), SPLIT_SCHEMA, compression="zstd") for name in SPLITS}

    def _tmp(self, name: str) -> Path:
        return self.out / f".{name}.parquet.tmp"

    def write(self, name: str, table: pa.Table) -> None:
        self.writers[name].write_table(table)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        for writer in self.writers.values():
            writer.close()
        for name in SPLITS:
            if exc_type is None:
                os.replace(self._tmp(name), self.out / f"{name}.parquet")
            else:
                self._tmp(name).unlink(missing_ok=True)
        return False
