"""A directory of parquet shards that survives a crash.

Each finished shard is written atomically and then recorded in `_progress.json` with the
fingerprint of the inputs and settings that produced it. A rerun with the same fingerprint keeps
the recorded shards and resumes after them; any other fingerprint starts the directory afresh.
DVC declares such directories `persist: true` so it does not delete them before a rerun.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .io import atomic_path, read_json, write_json

PROGRESS = "_progress.json"


class ShardSet:
    def __init__(self, directory: str | Path, fingerprint: str):
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.records: list[dict[str, Any]] = []
        self.complete = False
        progress = self.directory / PROGRESS
        if progress.exists():
            state = read_json(progress)
            if state.get("fingerprint") == fingerprint:
                self.records = [r for r in state["shards"] if (self.directory / r["name"]).exists()]
                self.complete = bool(state.get("complete")) and len(self.records) == len(state["shards"])
        if not self.records:
            shutil.rmtree(self.directory, ignore_errors=True)
        else:
            keep = {r["name"] for r in self.records} | {PROGRESS}
            for stray in self.directory.iterdir():
                if stray.name not in keep:
                    stray.unlink() if stray.is_file() else shutil.rmtree(stray)
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def done_names(self) -> set[str]:
        return {r["name"] for r in self.records}

    def write(self, name: str, table: pa.Table, **info: Any) -> None:
        with atomic_path(self.directory / name) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.records.append({"name": name, "rows": table.num_rows, **info})
        self._save()

    def finish(self) -> None:
        self.complete = True
        self._save()

    def _save(self) -> None:
        write_json(
            self.directory / PROGRESS,
            {"fingerprint": self.fingerprint, "complete": self.complete, "shards": self.records},
        )


def shard_files(directory: str | Path) -> list[Path]:
    """The finished shards of a directory written by ShardSet, in order."""
    return sorted(Path(directory).glob("part-*.parquet"))


def iter_tables(files: list[Path], columns: list[str] | None = None) -> Iterator[tuple[Path, pa.Table]]:
    for f in files:
        yield f, pq.read_table(f, columns=columns)
