"""Stage 6 of the seed: train/validation/test split with no leakage.

Clips are grouped so that one normalized transcript, or one audio, never lands in two splits
(same audio under different transcripts joins their groups). Groups are ordered by a seeded hash
of their key; only ids and keys, never audio, are held in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

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


class _Groups:
    """Union-find over clips linked by transcript or by audio."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.setdefault(root, root) != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller key becomes the root, so the group key does not depend on reading order.
            self.parent[max(ra, rb)] = min(ra, rb)


def bucket(key: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by the key and the seed."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(norm_texts: list[str], audio_hashes: list[str], ratios: dict[str, float], seed: int) -> list[str]:
    """Split name for each clip; clips sharing a transcript or an audio share a split.

    Groups are ordered by a seeded hash of their key and cut at the cumulative clip counts that
    give the ratios, so the split sizes match the ratios up to one group (a pure hash threshold
    would miss them by several percent on a 500-clip sample) and the order does not depend on
    how the corpus is sharded or read.
    """
    total = sum(ratios[s] for s in SPLITS)
    if total <= 0 or any(ratios[s] < 0 for s in SPLITS):
        raise PipelineError(f"split ratios must be non-negative and sum to more than 0, got {ratios}")
    groups = _Groups()
    for text, audio in zip(norm_texts, audio_hashes):
        groups.union(f"t:{text}", f"a:{audio}")
    members: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(norm_texts):
        members[groups.find(f"t:{text}")].append(i)
    edges, acc = [], 0.0
    for name in SPLITS:
        acc += ratios[name] / total
        edges.append(acc * len(norm_texts))
    names = [""] * len(norm_texts)
    placed = 0
    for key in sorted(members, key=lambda k: (bucket(k, seed), k)):
        # A group goes where its middle falls, so boundary groups land on the nearer side.
        middle = placed + len(members[key]) / 2
        split = next((s for s, edge in zip(SPLITS, edges) if middle < edge), SPLITS[-1])
        for i in members[key]:
            names[i] = split
        placed += len(members[key])
    return names


def ids_hash(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def run_split(in_dir: str, out_dir: str, ratios: dict[str, float], seed: int) -> dict[str, Any]:
    files = shard_files(in_dir)
    if not files:
        raise PipelineError(f"{in_dir} holds no validated shards; run the validate stage first")
    keys = pa.concat_tables(pq.read_table(f, columns=["id", "norm_text", "audio_sha256", "duration"]) for f in files)
    assignment = dict(zip(keys["id"].to_pylist(), assign_splits(
        keys["norm_text"].to_pylist(), keys["audio_sha256"].to_pylist(), ratios, seed)))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _SplitWriters(out) as writers:
        for f in tqdm(files, unit="shard", desc="split"):
            table = pq.read_table(f, columns=SPLIT_SCHEMA.names)
            names = pa.array([assignment[i] for i in table["id"].to_pylist()])
            for name in SPLITS:
                part = table.filter(pc.equal(names, name))
                if part.num_rows:
                    writers.write(name, part.cast(SPLIT_SCHEMA))

    info = {"seed": seed, "ratios": {s: ratios[s] for s in SPLITS}, "grouping": "normalized transcript and audio"}
    for name in SPLITS:
        mask = pc.equal(pa.array([assignment[i] for i in keys["id"].to_pylist()]), name)
        part = keys.filter(mask)
        info[name] = {
            "clips": part.num_rows,
            "fraction": round(part.num_rows / keys.num_rows, 4),
            "hours": round(sum(part["duration"].to_pylist()) / 3600, 4),
            "transcripts": len(set(part["norm_text"].to_pylist())),
            "ids_sha256": ids_hash(part["id"].to_pylist()),
        }
    info["overlap"] = check_no_leakage(keys, assignment)
    for name in SPLITS:
        written = pq.read_table(out / f"{name}.parquet", columns=["id"])["id"].to_pylist()
        if ids_hash(written) != info[name]["ids_sha256"]:
            raise PipelineError(f"{out / name}.parquet does not hold exactly the clips assigned to {name}")
    return info


def check_no_leakage(keys: pa.Table, assignment: dict[str, str]) -> dict[str, int]:
    """Count ids, transcripts and audios found in more than one split; raise if any."""
    where: dict[str, dict[str, set[str]]] = {c: defaultdict(set) for c in ("id", "norm_text", "audio_sha256")}
    for i, text, audio in zip(keys["id"].to_pylist(), keys["norm_text"].to_pylist(), keys["audio_sha256"].to_pylist()):
        split = assignment[i]
        for column, value in (("id", i), ("norm_text", text), ("audio_sha256", audio)):
            where[column][value].add(split)
    overlap = {column: sum(len(s) > 1 for s in values.values()) for column, values in where.items()}
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
