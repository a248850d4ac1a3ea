"""A directory of parquet shards that survives a crash.

Each finished shard is written atomically and then recorded in `_progress.json` with its size and
sha256 and the fingerprint of the inputs and settings that produced it (a digest of their content,
never of paths or mtimes, so a fresh clone writes the same bytes). A rerun with the same
fingerprint keeps the longest run of recorded shards that are still intact (present, same size and
hash) and resumes after it: a missing or truncated middle shard makes the stage redo from there, so
every row ends up exactly once and no new shard ever takes an existing one's name. Any other
fingerprint starts the directory afresh. DVC declares such directories `persist: true`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .fingerprint import file_sha256
from .io import atomic_path, read_json, write_json

PROGRESS = "_progress.json"


class ShardSet:
    def __init__(self, directory: str | Path, fingerprint: str):
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.records: list[dict[str, Any]] = []
        self.complete = False
        state = self._read_state()
        if state.get("fingerprint") == fingerprint:
            for record in state.get("shards", []):
                if not self._intact(record):
                    break
                self.records.append(record)
            self.complete = bool(state.get("complete")) and len(self.records) == len(state["shards"])
        if not self.records:
            shutil.rmtree(self.directory, ignore_errors=True)
        else:
            keep = {r["name"] for r in self.records} | {PROGRESS}
            for stray in self.directory.iterdir():
                if stray.name not in keep:
                    stray.unlink() if stray.is_file() else shutil.rmtree(stray)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _read_state(self) -> dict[str, Any]:
        try:
            state = read_json(self.directory / PROGRESS)
        except (OSError, ValueError):  # absent, or not ours: start afresh
            return {}
        return state if isinstance(state, dict) else {}

    def _intact(self, record: dict[str, Any]) -> bool:
        path = self.directory / record.get("name", "")
        return (path.is_file() and path.stat().st_size == record.get("bytes")
                and file_sha256(path) == record.get("sha256"))

    @property
    def done_names(self) -> set[str]:
        return {r["name"] for r in self.records}

    def write(self, name: str, table: pa.Table, **info: Any) -> None:
        target = self.directory / name
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.records.append({"name": name, "rows": table.num_rows, "bytes": target.stat().st_size,
                             "sha256": file_sha256(target), **info})
        self._save()

    def rewrite(self, index: int, table: pa.Table, **info: Any) -> None:
        """Replace finished shard `index` (atomically) and its record, keeping its name."""
        record = self.records[index]
        target = self.directory / record["name"]
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self.records[index] = {**record, "rows": table.num_rows, "bytes": target.stat().st_size,
                               "sha256": file_sha256(target), **info}
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
