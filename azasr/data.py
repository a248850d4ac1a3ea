"""The corpus: where it comes from, its schema, and reading/writing it in bounded memory.

Layout (LocalDoc/azerbaijani_asr): `audio` struct{bytes, path}, `text`, `duration`, `audio_file`.
Stages add an `id` (the row's position in the source, zero-padded, stable for a given source).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from . import PipelineError
from .io import atomic_path, read_json, write_json

AUDIO_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
CORPUS_SCHEMA = pa.schema(
    [("audio", AUDIO_TYPE), ("text", pa.string()), ("duration", pa.float64()), ("audio_file", pa.string())]
)
REQUIRED_COLUMNS = ("audio", "text", "duration", "audio_file")


@dataclass(frozen=True)
class Source:
    """Local parquet files, or a dataset on the Hugging Face hub (streamed)."""

    files: tuple[Path, ...] = ()
    hub_dataset: str | None = None
    hub_split: str = "train"

    def describe(self) -> str:
        if self.hub_dataset:
            return f"hub dataset {self.hub_dataset} (split {self.hub_split})"
        return f"{len(self.files)} parquet file(s) under {os.path.commonpath([str(f.parent) for f in self.files])}"

    def fingerprint(self) -> str:
        """Identity of the source's content, cheap: names, sizes and mtimes, or the hub id and the
        commit being streamed (so a resume never mixes two revisions of the dataset)."""
        h = hashlib.sha256()
        if self.hub_dataset:
            h.update(f"hub:{self.hub_dataset}:{self.hub_split}:{_check_hub(self).sha}".encode())
        for f in self.files:
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()


def resolve_source(data_params: dict[str, Any]) -> Source:
    """`hub` or a directory (or single file) of parquet files."""
    source = str(data_params["source"])
    if source == "hub":
        hub = Source(hub_dataset=data_params["hub_dataset"], hub_split=data_params.get("hub_split", "train"))
        _check_hub(hub)  # fail within seconds, with the ways out, before `datasets` retries for minutes
        return hub
    path = Path(source).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
    else:
        raise PipelineError(
            f"data.source {source!r} is neither 'hub' nor an existing directory of parquet files"
        )
    if not files:
        raise PipelineError(f"data.source {source!r} holds no *.parquet files")
    return Source(files=tuple(files))


def check_schema(schema: pa.Schema, where: str) -> None:
    """Fail with one clear message naming `where` and the missing or mistyped column."""
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise PipelineError(
            f"{where}: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_COLUMNS)}, "
            f"found {', '.join(schema.names) or 'none'}"
        )
    problems = []
    audio = schema.field("audio").type
    if not (pa.types.is_struct(audio) and audio.get_field_index("bytes") >= 0
            and _is_binary(audio.field("bytes").type)):
        problems.append(f"audio must be struct{{bytes: binary, path: string}}, is {audio}")
    for name in ("text", "audio_file"):
        t = schema.field(name).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
            problems.append(f"{name} must be string, is {t}")
    t = schema.field("duration").type
    if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_null(t)):
        problems.append(f"duration must be numeric, is {t}")
    if problems:
        raise PipelineError(f"{where}: wrong column type(s): {'; '.join(problems)}")


def _is_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_null(t)


def read_parquet_schema(path: Path) -> pa.Schema:
    """The parquet schema of `path`, or a clear error for an empty or non-parquet file."""
    if path.stat().st_size == 0:
        raise PipelineError(f"{path}: empty file, not a parquet file")
    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise PipelineError(f"{path}: not a readable parquet file ({exc})") from None


def count_rows(source: Source) -> int:
    if source.hub_dataset:
        from .hub import card_num_rows

        info = _check_hub(source)
        rows = card_num_rows(info, source.hub_split)
        if rows is not None:
            return rows
        try:
            import datasets

            builder = datasets.load_dataset_builder(source.hub_dataset, revision=info.sha)
            splits = builder.info.splits or {}
            if source.hub_split in splits and splits[source.hub_split].num_examples:
                return splits[source.hub_split].num_examples
        except Exception as exc:  # network, hub or `datasets` errors: one clear line, never a traceback
            raise PipelineError(_hub_failed(source, "reading the dataset's metadata", exc)) from None
        raise PipelineError(
            f"{source.describe()}: the hub states no row count for split {source.hub_split!r} (is it a split "
            f"of the dataset?). {_data_ways_out(False)}"
        )
    # Every file's schema first: one clear message (not a pyarrow traceback) before any output.
    for f in source.files:
        check_schema(read_parquet_schema(f), str(f))
    return sum(pq.ParquetFile(f).metadata.num_rows for f in source.files)


def iter_source(source: Source, skip: int = 0, batch_rows: int = 64) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream (row index, row) pairs with audio left undecoded, starting after `skip` rows.

    Local files are read with pyarrow a batch at a time (memory bounded by the batch; skipped row
    groups are never decompressed); the hub is streamed with `datasets`.
    """
    if source.hub_dataset:
        yield from _iter_hub(source, skip)
        return
    for f in source.files:
        check_schema(read_parquet_schema(f), str(f))
    index = 0
    for f in source.files:
        parquet = pq.ParquetFile(f)
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            if index + rows <= skip:
                index += rows
                continue
            for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[group], columns=list(REQUIRED_COLUMNS)):
                for row in batch.to_pylist():
                    if index >= skip:
                        yield index, row
                    index += 1


def _check_hub(source: Source):
    """The hub dataset's info from one bounded probe (once per process), or a PipelineError that says
    what was tried, why it failed and the ways out (a parquet mirror, a local model)."""
    from .hub import check_hub_reachable, data_ways_out

    return check_hub_reachable(
        source.hub_dataset, "dataset", what=f"dataset {source.hub_dataset} (split {source.hub_split})",
        ways_out=data_ways_out(), for_datasets=True,
    )


def _data_ways_out(model_too: bool) -> str:
    from .hub import data_ways_out

    return data_ways_out(model_too)


def _hub_failed(source: Source, doing: str, exc: BaseException) -> str:
    from .hub import describe_error, endpoint, redact

    resume = " A rerun resumes after the last complete shard." if doing.startswith("streaming") else ""
    return redact(f"{source.describe()} on {endpoint()}: {doing} failed ({describe_error(exc)}).{resume} "
                  f"{_data_ways_out(False)}")


def _iter_hub(source: Source, skip: int) -> Iterator[tuple[int, dict[str, Any]]]:
    info = _check_hub(source)
    try:
        import datasets

        # Pinned to the commit probed, so that the row count and the rows come from the same revision.
        stream = datasets.load_dataset(source.hub_dataset, split=source.hub_split, streaming=True, revision=info.sha)
        schema = stream.features.arrow_schema if stream.features is not None else None
    except Exception as exc:
        raise PipelineError(_hub_failed(source, "opening the stream", exc)) from None
    if schema is not None:
        check_schema(schema, source.describe())
    stream = stream.decode(False)
    if skip:
        stream = stream.skip(skip)
    index = skip
    rows = iter(stream)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # a connection lost mid-stream: say where; the shards so far are kept
            raise PipelineError(_hub_failed(source, f"streaming row {index}", exc)) from None
        yield index, row
        index += 1


def row_id(index: int) -> str:
    return f"{index:08d}"


def load_split(path: str | Path):
    """A split parquet file as a memory-mapped `datasets.Dataset` (random access, audio undecoded)."""
    import datasets

    datasets.disable_progress_bars()
    if not Path(path).exists():
        raise PipelineError(f"{path} not found; run the split stage first")
    return datasets.Dataset.from_parquet(str(path))
