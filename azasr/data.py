"""The corpus: where it comes from, its schema, and reading/writing it in bounded memory.

Layout (LocalDoc/azerbaijani_asr): `audio` struct{bytes, path}, `text`, `duration`, `audio_file`.
Stages add an `id` (the row's position in the source, zero-padded, stable for a given source).
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import PipelineError
from .io import read_json

AUDIO_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
CORPUS_SCHEMA = pa.schema(
    [("audio", AUDIO_TYPE), ("text", pa.string()), ("duration", pa.float64()), ("audio_file", pa.string())]
)
REQUIRED_COLUMNS = ("audio", "text", "duration", "audio_file")


# Where stages write: a data.source inside one of them (or holding one) would be read while it is
# rewritten, or wiped by prepare before it is read.
STAGE_OUTPUTS = ("data/prepared", "data/validated", "data/split")
# One batch of source rows holds about this many bytes (from the row group's stated uncompressed
# size), so a row group of tens of MiB-sized audio blobs is never read whole.
BATCH_BYTES = 64 << 20
MAX_BATCH_ROWS = 64


@dataclass(frozen=True)
class Source:
    """Local parquet files (under `root`), or a dataset on the Hugging Face hub (streamed)."""

    files: tuple[Path, ...] = ()
    root: Path | None = None
    hub_dataset: str | None = None
    hub_split: str = "train"

    def describe(self) -> str:
        if self.hub_dataset:
            return f"hub dataset {self.hub_dataset} (split {self.hub_split})"
        return f"{len(self.files)} parquet file(s) under {self.root}"


def source_fingerprint(source: Source) -> dict[str, Any]:
    """What the source holds, without paths or mtimes: each file's name relative to the source
    directory, size and sha256; or the hub dataset and the commit that would be streamed."""
    if source.hub_dataset:
        return {"hub_dataset": source.hub_dataset, "split": source.hub_split, "commit": _check_hub(source).sha}
    from .fingerprint import files_sha256

    return {"files": [
        {"name": f.relative_to(source.root).as_posix() if source.root else f.name, "bytes": f.stat().st_size,
         "sha256": digest}
        for f, digest in zip(source.files, files_sha256(source.files))
    ]}


def resolve_source(data_params: dict[str, Any]) -> Source:
    """`hub` or a directory (or single file) of parquet files."""
    source = str(data_params["source"])
    if source == "hub":
        hub = Source(hub_dataset=data_params["hub_dataset"], hub_split=data_params.get("hub_split", "train"))
        _check_hub(hub)  # fail within seconds, with the ways out, before `datasets` retries for minutes
        return hub
    path = Path(source).expanduser()
    _refuse_stage_outputs(source, path)
    _check_link(path, f"data.source {source!r}")
    if path.is_file():
        return Source(files=(path,), root=path.parent)
    if not path.is_dir():
        raise PipelineError(
            f"data.source {source!r} is neither 'hub' nor an existing directory of parquet files"
        )
    _check_mirror(path)
    files = sorted(_parquet_files(path, set()))
    if not files:
        raise PipelineError(f"data.source {source!r} holds no *.parquet files")
    return Source(files=tuple(files), root=path)


def _refuse_stage_outputs(source: str, path: Path) -> None:
    real = path.resolve()
    for output in STAGE_OUTPUTS:
        out = Path(output).resolve()
        if real == out or out in real.parents or real in out.parents:
            raise PipelineError(
                f"data.source {source!r} overlaps the stage output {output}/, which the data stages delete and "
                "rewrite: keep the corpus elsewhere (for example data/raw or a directory outside the repository)"
            )


def _check_link(path: Path, what: str) -> None:
    """A clear error for a dangling or looping symbolic link (os.stat follows links)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise PipelineError(f"{what}: {path} is a dangling symbolic link (to {os.readlink(path)})") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PipelineError(f"{what}: {path} is a symbolic link loop") from None
        raise PipelineError(f"{what}: {path}: {exc.strerror}") from None


def _parquet_files(directory: Path, seen: set[Path]) -> Iterator[Path]:
    """Every `*.parquet` file (any case) under `directory`, following links, with Spark/Dask-style
    directories of part files read as their parts. Names starting with `.` or `_` are skipped, as
    Spark and Dask do (`_SUCCESS`, `_temporary/`, `.cache/`)."""
    real = directory.resolve()
    if real in seen:
        raise PipelineError(f"data.source: {directory} leads back to {real} (a symbolic link loop)")
    seen = seen | {real}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        _check_link(entry, "data.source")
        is_parquet_name = entry.suffix.lower() == ".parquet"
        if entry.is_dir():
            parts = list(_parquet_files(entry, seen))
            if is_parquet_name and not parts:
                raise PipelineError(f"data.source: {entry} is a directory named *.parquet with no parquet files inside")
            yield from parts
        elif is_parquet_name:
            yield entry


def _check_mirror(directory: Path) -> None:
    """A directory made by `azasr download` is used only when its manifest says it is complete and
    every file it lists is there with its size: never train on a subset of an interrupted mirror."""
    from .hub import MIRROR_MANIFEST

    manifest = directory / MIRROR_MANIFEST
    if not manifest.is_file():
        if (directory / ".cache" / "huggingface").is_dir():
            raise PipelineError(
                f"{directory} is an interrupted `azasr download` (no {MIRROR_MANIFEST}, which is written once "
                f"every file is verified): rerun `azasr download --to {directory}` to finish it"
            )
        return
    try:
        listed = [(f["path"], int(f["size"])) for f in read_json(manifest)["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        raise PipelineError(f"{manifest} is unreadable: rerun `azasr download --to {directory}`") from None
    problems = [f"{name} missing" if not (directory / name).is_file() else f"{name} has the wrong size"
                for name, size in listed
                if not (directory / name).is_file() or (directory / name).stat().st_size != size]
    if problems:
        raise PipelineError(
            f"{directory} is an incomplete mirror ({len(problems)} of {len(listed)} files: "
            f"{'; '.join(problems[:3])}{' …' if len(problems) > 3 else ''}): "
            f"rerun `azasr download --to {directory}`"
        )


def check_schema(schema: pa.Schema, where: str) -> None:
    """Fail with one clear message naming `where` and the missing, doubled or mistyped column."""
    doubled = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if doubled:
        raise PipelineError(f"{where}: duplicate column name(s) {', '.join(doubled)}: each column must appear once")
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise PipelineError(
            f"{where}: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_COLUMNS)}, "
            f"found {', '.join(schema.names) or 'none'}"
        )
    problems = []
    audio = schema.field("audio").type
    if not (pa.types.is_struct(audio) and audio.get_field_index("bytes") >= 0
            and _is_binary(audio.field("bytes").type)
            and (audio.get_field_index("path") < 0 or _is_text(audio.field("path").type))):
        problems.append(f"audio must be struct{{bytes: binary, path: string}}, is {audio}")
    for name in ("text", "audio_file"):
        t = schema.field(name).type
        if not _is_text(t):
            problems.append(f"{name} must be string, is {t}")
    t = _value_type(schema.field("duration").type)
    if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_null(t)):
        problems.append(f"duration must be numeric, is {t}")
    if problems:
        raise PipelineError(f"{where}: wrong column type(s): {'; '.join(problems)}")


def _value_type(t: pa.DataType) -> pa.DataType:
    """The values' type of a dictionary-encoded column (pandas `category`), else `t`."""
    return t.value_type if pa.types.is_dictionary(t) else t


def _is_text(t: pa.DataType) -> bool:
    t = _value_type(t)
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_null(t))


def _is_binary(t: pa.DataType) -> bool:
    t = _value_type(t)
    return (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
            or pa.types.is_null(t))


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


def iter_source(source: Source, skip: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream (row index, row) pairs with audio left undecoded, starting after `skip` rows.

    Local files are read with pyarrow, only the needed columns, in batches of about BATCH_BYTES
    (skipped row groups are never decompressed); the hub is streamed with `datasets`. Every
    encoding of the columns comes out the same (see `_rows`).
    """
    if source.hub_dataset:
        yield from _iter_hub(source, skip)
        return
    for f in source.files:
        check_schema(read_parquet_schema(f), str(f))
    index = 0
    for f in source.files:
        parquet = pq.ParquetFile(f, buffer_size=1 << 20, pre_buffer=False)
        for group in range(parquet.num_row_groups):
            meta = parquet.metadata.row_group(group)
            if index + meta.num_rows <= skip:
                index += meta.num_rows
                continue
            for batch in parquet.iter_batches(batch_size=_batch_rows(meta), row_groups=[group],
                                              columns=list(REQUIRED_COLUMNS)):
                for row in _rows(batch):
                    if index >= skip:
                        yield index, row
                    index += 1


def _batch_rows(meta: pq.RowGroupMetaData) -> int:
    """Rows per batch so that a batch holds about BATCH_BYTES. A dictionary-encoded audio column
    repeats its values and its stated size says nothing of what they expand to (16 identical
    16-MiB blobs are stated as 16 MiB): read it a row at a time."""
    for i in range(meta.num_columns):
        column = meta.column(i)
        if column.path_in_schema == "audio.bytes" and column.has_dictionary_page:
            return 1
    per_row = meta.total_byte_size / max(meta.num_rows, 1)
    return int(min(MAX_BATCH_ROWS, max(1, BATCH_BYTES // max(per_row, 1))))


def _rows(batch: pa.RecordBatch) -> Iterator[dict[str, Any]]:
    """Rows as {audio: {bytes, path} | None, text, duration, audio_file, invalid_utf8}, whatever the
    column encodings (large/view strings and binaries, dictionaries, float32, integer or decimal
    durations). Text is decoded here, row by row: a value that is not UTF-8 is named in
    `invalid_utf8` (the row is rejected for it) instead of failing the whole batch."""
    audio = batch.column("audio")
    audio_bytes = _as_pylist(pc.struct_field(audio, "bytes"))
    paths = (_as_pylist(pc.struct_field(audio, "path"))
             if audio.type.get_field_index("path") >= 0 else [None] * len(batch))
    audio_null = audio.is_null().to_pylist()
    texts = _as_pylist(batch.column("text"))
    files = _as_pylist(batch.column("audio_file"))
    durations = _durations(batch.column("duration"))
    for i in range(len(batch)):
        invalid = []
        text, audio_file, path = (_utf8(v, name, invalid) for v, name in
                                  ((texts[i], "text"), (files[i], "audio_file"), (paths[i], "audio.path")))
        yield {"audio": None if audio_null[i] else {"bytes": audio_bytes[i], "path": path},
               "text": text, "duration": durations[i], "audio_file": audio_file, "invalid_utf8": invalid or None}


def _as_pylist(array: pa.Array) -> list:
    """Python values of a string or binary column of any encoding, as bytes (undecoded)."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_null(array.type):
        return [None] * len(array)
    return pc.cast(array, pa.large_binary()).to_pylist()


def _utf8(value: bytes | None, column: str, invalid: list[str]) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        invalid.append(column)
        return value.decode("utf-8", errors="backslashreplace")  # kept as a label in the report


def _durations(array: pa.Array) -> list[float | None]:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    try:
        return pc.cast(array, pa.float64()).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a decimal beyond float64: per value
        return [None if v is None else float(v) for v in array.to_pylist()]


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
