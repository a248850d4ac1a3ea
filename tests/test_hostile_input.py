"""Hostile and unusual input, second round (issue 13), through the real stage entry points
(`python -m stages.<stage>` in a throw-away copy of the repository) on small corpora generated here.

Every source row ends up exactly once: in data/split, or in the validation report with its reason.
"""

from __future__ import annotations

import decimal
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from bad_corpus import encode, speech_like
from conftest import copy_repo, run_in

EXPERIMENT = "hostile"
REPORT = f"outputs/{EXPERIMENT}_validation.json"
AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
SCHEMA = pa.schema([("audio", AUDIO), ("text", pa.string()), ("duration", pa.float64()), ("audio_file", pa.string())])
WORDS = ["bir", "iki", "üç", "dörd", "beş", "altı", "yeddi", "səkkiz", "doqquz", "on", "alma", "ev"]


def sentence(i: int) -> str:
    return f"{WORDS[i % 12].capitalize()} {WORDS[(i // 12) % 12]} {WORDS[(i * 7) % 12]} nömrə {i}."


def good_row(i: int, seconds: float = 1.0, rate: int = 16_000) -> dict:
    return {"audio": {"bytes": encode(speech_like(seconds, rate, seed=i), rate), "path": f"c{i}.flac"},
            "text": sentence(i), "duration": seconds, "audio_file": f"c{i}.flac"}


def write(path: Path, rows: list[dict], schema: pa.Schema = SCHEMA, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, **kwargs)
    return path


def not_utf8(values: list) -> pa.Array:
    """A string array holding the given bytes unchecked, as a writer that does not validate makes."""
    raw = pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())


BASE_PARAMS = "params.base.yaml"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("hostile") / "repo", {
        "experiment": {"name": EXPERIMENT},
        "mode": {"sample": False},
        "data": {"shard_size": 4, "workers": 1},
        "validate": {"max_rejected_fraction": 1.0},   # the reasons are what these tests look at
    })
    (repo / BASE_PARAMS).write_text((repo / "params.yaml").read_text())
    return repo


def set_params(repo: Path, **sections) -> None:
    """params.yaml = the module's base parameters with `sections` merged in."""
    params = yaml.safe_load((repo / BASE_PARAMS).read_text())
    for section, values in sections.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


def stages(repo: Path, source: Path, *names: str, check: bool = True, **sections) -> subprocess.CompletedProcess:
    set_params(repo, data={"source": str(source), **sections.pop("data", {})}, **sections)
    result = None
    for name in names:
        result = run_in(repo, "python", "-m", f"stages.{name}", timeout=300, check=check)
        if result.returncode:
            return result
    return result


def report(repo: Path) -> dict:
    return json.loads((repo / REPORT).read_text())


def split_rows(repo: Path) -> dict[str, dict]:
    rows = {}
    for name in ("train", "validation", "test"):
        for row in pq.read_table(repo / "data" / "split" / f"{name}.parquet").to_pylist():
            assert row["id"] not in rows
            rows[row["id"]] = row
    return rows


def assert_every_row_once(repo: Path, total: int) -> tuple[dict, dict]:
    """Each of `total` source rows is either in the split or rejected, never both, never twice."""
    rejected = {r["id"]: r for r in report(repo)["rejected_rows"]}
    accepted = split_rows(repo)
    assert not accepted.keys() & rejected.keys()
    assert sorted(accepted.keys() | rejected.keys()) == [f"{i:08d}" for i in range(total)]
    return accepted, rejected


def one_line_error(result: subprocess.CompletedProcess, stage: str = "prepare") -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"[{stage}] error: "), result.stderr
    return lines[0]


# 13.1 -------------------------------------------------------------------------------------------

def test_invalid_utf8_in_any_string_column_rejects_that_row(repo, tmp_path):
    rows = [good_row(i) for i in range(24)]
    texts = [r["text"].encode() for r in rows]
    files = [r["audio_file"].encode() for r in rows]
    paths = [r["audio"]["path"].encode() for r in rows]
    texts[1] = b"Bad \xff\xfe text"
    files[3] = b"bad\xc3(.flac"
    paths[5] = b"\xed\xa0\x80.flac"   # an encoded surrogate: not UTF-8
    audio = pa.StructArray.from_arrays([pa.array([r["audio"]["bytes"] for r in rows]), not_utf8(paths)],
                                       names=["bytes", "path"])
    table = pa.table({"audio": audio, "text": not_utf8(texts), "duration": [r["duration"] for r in rows],
                      "audio_file": not_utf8(files)})
    pq.write_table(table, tmp_path / "part.parquet")
    stages(repo, tmp_path, "prepare", "validate", "split")
    accepted, rejected = assert_every_row_once(repo, 24)
    assert {i: r["reason"] for i, r in rejected.items()} == {
        "00000001": "invalid_utf8", "00000003": "invalid_utf8", "00000005": "invalid_utf8"}
    assert "audio_file" in rejected["00000003"]["detail"] and "audio.path" in rejected["00000005"]["detail"]


# 13.2 -------------------------------------------------------------------------------------------

def test_other_arrow_encodings_and_layouts_are_read(repo, tmp_path):
    rows = [good_row(i, seconds=1.0 + i / 8) for i in range(12)]
    source = tmp_path / "src"

    def typed(part, **types):
        schema = pa.schema([(f.name, types.get(f.name, f.type)) for f in SCHEMA])
        return pa.Table.from_pylist(part, schema=SCHEMA).cast(schema)

    source.mkdir()
    large = pa.struct([("bytes", pa.large_binary()), ("path", pa.large_string())])
    pq.write_table(typed(rows[0:2], audio=large, text=pa.large_string(), audio_file=pa.large_string(),
                         duration=pa.float32()), source / "a.PARQUET")
    view = pa.struct([("bytes", pa.binary_view()), ("path", pa.string_view())])
    pq.write_table(typed(rows[2:4], audio=view, text=pa.string_view(), audio_file=pa.string_view()), source / "b.parquet")
    table = pa.Table.from_pylist(rows[4:6], schema=SCHEMA)
    table = table.set_column(1, "text", table["text"].dictionary_encode())           # pandas `category`
    table = table.set_column(2, "duration", pa.array([None, 1], pa.int64()))          # integer seconds
    pq.write_table(table, source / "c.parquet")
    decimals = pa.array([decimal.Decimal(str(r["duration"])) for r in rows[6:8]], pa.decimal128(9, 3))
    table = pa.Table.from_pylist(rows[6:8], schema=SCHEMA)
    pq.write_table(table.set_column(2, "duration", decimals), source / "d.parquet")
    spark = source / "e.parquet"                                                       # Spark/Dask part files
    write(spark / "part-00000-1f2e.snappy.parquet", rows[8:10], compression="snappy")
    write(spark / "part-00001-1f2e.snappy.parquet", rows[10:12], compression="snappy")
    (spark / "_SUCCESS").write_bytes(b"")
    filler = [good_row(i) for i in range(12, 24)]   # enough clips for three splits
    write(source / "f.parquet", filler)

    stages(repo, source, "prepare", "validate", "split")
    accepted, rejected = assert_every_row_once(repo, 24)
    # Row 5 states the integer 1 s for a 1.625-s clip: the one real mismatch.
    assert {i: r["reason"] for i, r in rejected.items()} == {"00000005": "duration_mismatch"}
    for i, row in enumerate(rows + filler):
        if f"{i:08d}" in accepted:
            got = accepted[f"{i:08d}"]
            assert (got["text"], got["audio_file"]) == (row["text"], row["audio_file"])
            assert got["duration"] == pytest.approx(row["duration"], abs=0.01)


def _duplicate_columns(d: Path) -> tuple[Path, str]:
    table = pa.Table.from_pylist([good_row(0)], schema=SCHEMA)
    table = pa.Table.from_arrays([*table.columns, table["text"]], names=[*table.column_names, "text"])
    pq.write_table(table, d / "dup.parquet")
    return d / "dup.parquet", "duplicate column name(s) text"


def _dangling_link(d: Path) -> tuple[Path, str]:
    write(d / "good.parquet", [good_row(0)])
    os.symlink(d / "gone.parquet", d / "link.parquet")
    return d / "link.parquet", "dangling symbolic link"


def _link_loop(d: Path) -> tuple[Path, str]:
    write(d / "good.parquet", [good_row(0)])
    os.symlink(d / "loop.parquet", d / "loop.parquet")
    return d / "loop.parquet", "symbolic link loop"


def _directory_loop(d: Path) -> tuple[Path, str]:
    write(d / "sub" / "good.parquet", [good_row(0)])
    os.symlink(d, d / "sub" / "back")
    return d / "sub" / "back", "symbolic link loop"


def _empty_parquet_dir(d: Path) -> tuple[Path, str]:
    write(d / "good.parquet", [good_row(0)])
    (d / "x.parquet").mkdir()
    (d / "x.parquet" / "_SUCCESS").write_bytes(b"")
    return d / "x.parquet", "directory named *.parquet with no parquet files inside"


def _interrupted_download(d: Path) -> tuple[Path, str]:
    write(d / "data" / "train-00000.parquet", [good_row(0)])
    (d / ".cache" / "huggingface" / "download").mkdir(parents=True)
    return d, "interrupted `azasr download`"


def _pruned_mirror(d: Path) -> tuple[Path, str]:
    kept = write(d / "data" / "train-00000.parquet", [good_row(0)])
    (d / "azasr_mirror.json").write_text(json.dumps({"files": [
        {"path": "data/train-00000.parquet", "size": kept.stat().st_size},
        {"path": "data/train-00001.parquet", "size": 1000}]}))
    return d, "incomplete mirror (1 of 2 files: data/train-00001.parquet missing)"


@pytest.mark.parametrize("make", [_duplicate_columns, _dangling_link, _link_loop, _directory_loop,
                                  _empty_parquet_dir, _interrupted_download, _pruned_mirror],
                         ids=lambda f: f.__name__.strip("_"))
def test_broken_layouts_are_one_clear_line(repo, tmp_path, make):
    bad, fragment = make(tmp_path)
    line = one_line_error(stages(repo, tmp_path, "prepare", check=False))
    assert str(bad) in line and fragment in line, line


# 13.3 -------------------------------------------------------------------------------------------

def silent_wav(n_bytes: int) -> bytes:
    """A valid 16-bit 16 kHz WAV of digital silence, `n_bytes` long: zstd packs it into a few KiB."""
    frames = (n_bytes - 44) // 2
    header = io.BytesIO()
    header.write(b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16))
    header.write(b"data" + struct.pack("<I", 2 * frames))
    return header.getvalue() + bytes(2 * frames)


BOMBS, BOMB_BYTES = 16, 16 << 20


def test_blob_bomb_memory_is_bounded_by_bytes(repo, tmp_path):
    """16 blobs of 16 MiB (8.7 min of silence each) in one row group, a few KiB each on disk."""
    edge = good_row(100)
    edge_size = len(edge["audio"]["bytes"])
    rows = [{"audio": {"bytes": silent_wav(BOMB_BYTES), "path": f"bomb{i}.wav"}, "text": sentence(i),
             "duration": None, "audio_file": f"bomb{i}.wav"} for i in range(BOMBS)]
    over = good_row(101)
    over["audio"]["bytes"] = over["audio"]["bytes"] + bytes(edge_size + 1 - len(over["audio"]["bytes"]))
    rows += [edge, over]
    write(tmp_path / "bombs.parquet", rows, compression="zstd", row_group_size=len(rows))
    assert (tmp_path / "bombs.parquet").stat().st_size < 4 << 20
    stages(repo, tmp_path, "prepare", "validate", data={"max_audio_bytes": edge_size})
    peak = json.loads((repo / "outputs" / "stages" / "prepare.json").read_text())["peak_rss_gib"]
    reasons = {r["id"]: r["reason"] for r in report(repo)["rejected_rows"]}
    assert [reasons[f"{i:08d}"] for i in range(BOMBS)] == ["audio_too_large"] * BOMBS
    # A blob exactly at the limit is accepted; one byte more is not.
    assert f"{BOMBS:08d}" not in reasons and reasons[f"{BOMBS + 1:08d}"] == "audio_too_large"
    # Memory: about the size of one bounded batch above the interpreter's, not the row group's 256 MiB.
    assert peak < 0.6, peak

    stages(repo, tmp_path, "prepare", "validate", data={"max_audio_bytes": 2 * BOMB_BYTES})
    peak = json.loads((repo / "outputs" / "stages" / "prepare.json").read_text())["peak_rss_gib"]
    reasons = {r["id"]: (r["reason"], r["detail"]) for r in report(repo)["rejected_rows"]}
    # Decoded no further than validate.max_duration_s: rejected in prepare, never stored in a shard.
    assert all(reasons[f"{i:08d}"][0] == "too_long" and "30 s" in reasons[f"{i:08d}"][1] for i in range(BOMBS))
    prepared = pq.read_table(repo / "data" / "prepared", columns=["num_samples"])["num_samples"].to_pylist()
    assert max(n for n in prepared if n is not None) <= 30 * 16000
    assert peak < 0.6, peak


# 13.4 -------------------------------------------------------------------------------------------

def test_huge_transcript_is_rejected_quickly_with_a_short_entry(repo, tmp_path):
    rows = [good_row(i) for i in range(20)]
    rows[1]["text"] = "söz " * (10 << 20)                # 50 MiB of UTF-8
    rows[2]["audio_file"] = "x" * (1 << 20)              # a 1 MB label, rejected for another reason
    rows[2]["duration"] = 9.0
    write(tmp_path / "part.parquet", rows)
    from azasr.prepare import prepare_row

    start = time.perf_counter()
    assert prepare_row((1, rows[1]), 1 << 25)["error"].startswith("text_too_long")
    assert time.perf_counter() - start < 1.0            # the row alone, as prepare handles it
    start = time.perf_counter()
    stages(repo, tmp_path, "prepare", "validate", "split")
    seconds = time.perf_counter() - start
    accepted, rejected = assert_every_row_once(repo, 20)
    assert rejected["00000001"]["reason"] == "text_too_long"
    assert rejected["00000002"]["reason"] == "duration_mismatch"
    for entry in rejected.values():
        assert len(json.dumps(entry, ensure_ascii=False).encode()) <= 1024
    for progress in ("prepared", "validated"):
        assert (repo / "data" / progress / "_progress.json").stat().st_size < 8192   # never whole rows
    assert seconds < 30, seconds   # three stage processes (imports included) for 20 rows


# 13.5 -------------------------------------------------------------------------------------------

def _children(pid: int) -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out.append((int(entry.name), (entry / "cmdline").read_bytes().decode(errors="replace")))
            except (OSError, ValueError, IndexError):
                pass
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker processes through /proc")
def test_a_worker_that_dies_fails_the_stage_fast_and_a_rerun_resumes(repo, tmp_path):
    rows = [good_row(i, seconds=2.0, rate=44_100) for i in range(48)]   # no row is done before a worker starts
    write(tmp_path / "part.parquet", rows, row_group_size=16)
    set_params(repo, data={"source": str(tmp_path), "workers": 2, "shard_size": 8})
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-m", "stages.prepare"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.monotonic() + 60
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        workers = [pid for pid, cmd in _children(proc.pid) if "spawn_main" in cmd]
        if workers:
            os.kill(workers[0], signal.SIGKILL)   # as the OOM killer or a codec segfault would
            killed = time.monotonic()
        time.sleep(0.02)
    assert killed is not None, "no worker process seen"
    _, stderr = proc.communicate(timeout=60)
    assert time.monotonic() - killed < 60
    line = one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, "", _stage_lines(stderr)))
    assert "worker died" in line
    stages(repo, tmp_path, "prepare", "validate", "split", data={"workers": 2, "shard_size": 8})
    assert_every_row_once(repo, len(rows))


def _stage_lines(stderr: str) -> str:
    """The stage's error lines and any traceback (its progress bar and log lines left out)."""
    return "\n".join(line for line in stderr.splitlines() if line.startswith("[prepare] error: ") or "Traceback" in line)


# 13.6 -------------------------------------------------------------------------------------------

def test_missing_or_truncated_middle_shard_is_redone(repo, tmp_path):
    rows = [good_row(i) for i in range(22)]
    write(tmp_path / "part.parquet", rows)
    stages(repo, tmp_path, "prepare", data={"shard_size": 4})
    prepared = repo / "data" / "prepared"
    before = {p.name: p.read_bytes() for p in prepared.glob("part-*.parquet")}
    assert len(before) == 6
    (prepared / "part-00002.parquet").unlink()
    data = (prepared / "part-00004.parquet").read_bytes()
    (prepared / "part-00004.parquet").write_bytes(data[: len(data) // 2])
    stages(repo, tmp_path, "prepare", "validate", "split", data={"shard_size": 4})
    assert {p.name: p.read_bytes() for p in prepared.glob("part-*.parquet")} == before
    assert_every_row_once(repo, 22)
    progress = json.loads((prepared / "_progress.json").read_text())
    assert [r["name"] for r in progress["shards"]] == sorted(before) and progress["complete"]


# 13.7 -------------------------------------------------------------------------------------------

def test_lying_header_and_conflicting_transcripts(repo, tmp_path):
    rows = [good_row(i) for i in range(24)]
    wav = bytearray(encode(speech_like(3.0, seed=50), fmt="WAV"))
    at = wav.find(b"data")
    wav[at + 4:at + 8] = struct.pack("<I", 16000 * 2)        # the header says 1 s; the file holds 3 s
    rows[2] = {"audio": {"bytes": bytes(wav), "path": "liar.wav"}, "text": sentence(2), "duration": None,
               "audio_file": "liar.wav"}
    flac = bytearray(encode(speech_like(3.0, seed=51)))
    streaminfo = int.from_bytes(flac[18:26], "big")          # its last 36 bits: the total samples
    flac[18:26] = (streaminfo - (streaminfo & (2**36 - 1)) + 16000).to_bytes(8, "big")   # says 1 s of 3 s
    rows[3] = {"audio": {"bytes": bytes(flac), "path": "liar.flac"}, "text": sentence(3), "duration": None,
               "audio_file": "liar.flac"}
    rows[7]["audio"] = dict(rows[1]["audio"])                # same audio, another transcript, other shard
    rows[8] = {**rows[1], "audio": dict(rows[1]["audio"])}   # and an exact duplicate of row 1
    write(tmp_path / "part.parquet", rows)
    stages(repo, tmp_path, "prepare", "validate", "split", data={"shard_size": 4})
    accepted, rejected = assert_every_row_once(repo, 24)
    assert {i: r["reason"] for i, r in rejected.items()} == {
        "00000002": "header_length_mismatch", "00000003": "header_length_mismatch",
        "00000001": "conflicting_transcripts",
        "00000007": "conflicting_transcripts", "00000008": "duplicate"}


# 13.8 -------------------------------------------------------------------------------------------

def test_source_inside_the_outputs_is_refused_before_anything_is_deleted(repo, tmp_path):
    write(tmp_path / "part.parquet", [good_row(i) for i in range(20)])
    stages(repo, tmp_path, "prepare", "validate", "split")

    def outputs() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for top in ("prepared", "validated", "split")
                for p in (repo / "data" / top).rglob("*") if p.is_file()}

    before = outputs()
    for inside in ("data", "data/prepared", "data/validated", "data/split", "data/prepared/sub", "./data/../data/split"):
        line = one_line_error(stages(repo, Path(inside), "prepare", check=False))
        assert "overlaps the stage output" in line, line
        assert outputs() == before, inside


# 13.9 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("section,key,value,fragment", [
    ("data", "sample_size", 0, "data.sample_size: Input should be greater than 0"),
    ("data", "shard_size", -5, "data.shard_size: Input should be greater than 0"),
    ("split", "train", 0.5, "split: train + validation + test must sum to 1, they sum to 0.7"),
    ("train", "learning_rate", -1e-4, "train.learning_rate: Input should be greater than 0"),
    ("train", "precision", "fp8", "train.precision: Input should be 'auto', 'fp32', 'bf16' or 'fp16'"),
    ("evaluate", "precision", "int4", "evaluate.precision: Input should be"),
    ("train", "learnig_rate", 1e-4, "unknown key train.learnig_rate (did you mean train.learning_rate?)"),
])
def test_bad_parameters_are_one_clear_error_before_any_work(repo, section, key, value, fragment):
    set_params(repo, **{section: {key: value}})
    line = one_line_error(run_in(repo, "python", "-m", "stages.split", check=False, timeout=120), "split")
    assert fragment in line and line.startswith("[split] error: params.yaml: "), line


def test_corpus_too_small_for_every_split_is_refused(repo, tmp_path):
    write(tmp_path / "part.parquet", [good_row(i) for i in range(2)])
    line = one_line_error(stages(repo, tmp_path, "prepare", "validate", "split", check=False), "split")
    assert "give no clip to the" in line and "too small" in line, line


# 13.10 ------------------------------------------------------------------------------------------

def test_model_cache_entries_are_hash_checked_locked_and_keyed_by_converter(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from azasr import ct2, model

    monkeypatch.setenv("AZASR_CACHE", str(tmp_path))
    builds = []
    real_build = model.build_tiny_random
    monkeypatch.setattr(model, "build_tiny_random", lambda d: builds.append(d) or real_build(d))
    # Three resolvers at once (each takes its own lock, as separate processes do): one build, one entry.
    with ThreadPoolExecutor(3) as pool:
        resolved = list(pool.map(lambda _: model.resolve_model(model.TINY_RANDOM), range(3)))
    assert len(builds) == 1 and len({(r.path, r.weights_sha256) for r in resolved}) == 1
    weights = resolved[0].path / "model.safetensors"
    good = weights.read_bytes()
    for damaged in (good[: len(good) // 2], good[:-64] + bytes(64)):   # truncated; altered, same size
        weights.write_bytes(damaged)
        model._verified.clear()   # as in a new process
        again = model.resolve_model(model.TINY_RANDOM)
        assert weights.read_bytes() == good and again.weights_sha256 == resolved[0].weights_sha256
    assert len(builds) == 3

    keys = []

    def capture(key, expect, build):
        keys.append(key)
        raise RuntimeError("key captured")

    monkeypatch.setattr(model, "_cached_build", capture)
    for version in (ct2.CONVERTER_VERSION, f"{ct2.CONVERTER_VERSION}-next"):
        monkeypatch.setattr(ct2, "CONVERTER_VERSION", version)
        with pytest.raises(RuntimeError, match="key captured"):
            model._converted_base()
    assert keys[0] != keys[1]


# 13.12 ------------------------------------------------------------------------------------------

def test_split_of_a_long_linkage_chain_is_near_linear(tmp_path):
    """100k clips where clip i shares its audio with clip i+1 (i even) and its transcript with clip
    i+1 (i odd): one group of 100k, found in one pass, plus 2k ordinary clips."""
    from azasr.split import SPLITS, run_split
    from azasr.validate import VALIDATED_SCHEMA

    chain, plain = 100_000, 2_000
    n = chain + plain
    idx = np.arange(n)
    texts = np.where(idx < chain, (idx + 1) // 2, idx + chain).astype(str)
    audios = np.where(idx < chain, idx // 2, idx + chain).astype(str)
    table = pa.table({
        "id": pa.array([f"{i:08d}" for i in range(n)]),
        "audio": pa.array([{"bytes": b"", "path": None}] * n, VALIDATED_SCHEMA.field("audio").type),
        "text": pa.array(texts), "duration": pa.array(np.ones(n)), "audio_file": pa.array(audios),
        "norm_text": pa.array(texts), "audio_sha256": pa.array(audios),
    }).cast(VALIDATED_SCHEMA)
    (tmp_path / "validated").mkdir()
    pq.write_table(table, tmp_path / "validated" / "part-00000.parquet")
    start = time.perf_counter()
    # A 100k group leaves no room for a third split in 102k clips; two splits show it is kept whole.
    ratios = {"train": 0.98, "validation": 0.0, "test": 0.02}
    info = run_split(str(tmp_path / "validated"), str(tmp_path / "split"), ratios, 42)
    seconds = time.perf_counter() - start
    assert seconds < 30, seconds
    assert sum(info[s]["clips"] for s in SPLITS) == n and info["overlap"] == {"id": 0, "norm_text": 0, "audio_sha256": 0}
    chain_split = {name for name in SPLITS
                   if pq.read_table(tmp_path / "split" / f"{name}.parquet", columns=["id"])
                   .filter(pa.compute.less(pa.compute.field("id"), f"{chain:08d}")).num_rows}
    assert len(chain_split) == 1   # the whole chain is one group
