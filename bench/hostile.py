"""Hostile input at full size (issue 13): peak RSS of prepare/validate on a blob-bomb corpus, and of
the split stage on a 100k-clip linkage chain. Not part of `make bench`; run it alone:

    python -m bench.hostile            # about a minute on 2 cores; prints JSON

Blob bomb: 48 audio blobs of exactly data.max_audio_bytes (32 MiB of 16-bit WAV silence, 17.5 min
each) in ONE row group; zstd stores the file in about 200 KiB. Every stage runs in its own process
(the stage scripts), with data.workers: 2; peak RSS is the stage's own (VmHWM) and its largest
worker's, as the stage records them in outputs/stages/<stage>.json.

Chain: 100,000 clips where clip i shares its audio with clip i+1 for even i and its transcript
with clip i+1 for odd i (one group of 100k), plus 2,000 ordinary clips, as data/validated; then
`python -m stages.split`. For comparison, the grouping that split used before (label propagation,
one round per link) is timed on shorter chains.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .common import REPO, WORK, fresh_repo, log

BOMBS = 48
BOMB_BYTES = 33_554_432   # params.yaml data.max_audio_bytes: exactly at the limit, so decoded
CHAIN, PLAIN = 100_000, 2_000


def stage(repo, name: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=repo, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{name} failed: {result.stderr[-2000:]}")
    record = json.loads((repo / "outputs" / "stages" / f"{name}.json").read_text())
    return {"wall_s": round(time.perf_counter() - start, 1), "peak_rss_gib": record["peak_rss_gib"],
            "workers_peak_rss_gib": record["peak_rss_children_gib"]}


def silent_wav(n_bytes: int) -> bytes:
    import struct

    frames = (n_bytes - 44) // 2
    header = (b"RIFF" + struct.pack("<I", 36 + 2 * frames) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", 2 * frames))
    return header + bytes(2 * frames)


def blob_bomb() -> dict:
    corpus = WORK / "hostile" / "bombs"
    corpus.mkdir(parents=True, exist_ok=True)
    path = corpus / "bombs.parquet"
    if not path.exists():
        # In a child process: the 1.5 GiB table built here must not count against anything measured.
        code = ("import sys; sys.path.insert(0, %r); from bench.hostile import write_bombs; write_bombs(%r)"
                % (str(REPO), str(path)))
        subprocess.run([sys.executable, "-c", code], check=True)
    repo = fresh_repo(WORK / "hostile" / "bomb-repo", {
        "mode": {"sample": False}, "data": {"source": str(corpus), "workers": 2},
        "validate": {"max_rejected_fraction": 1.0}})
    log(f"hostile: prepare + validate on {BOMBS} blobs of {BOMB_BYTES >> 20} MiB in one row group …")
    out = {"rows": BOMBS, "blob_mib": BOMB_BYTES >> 20, "file_kib": path.stat().st_size >> 10,
           "prepare": stage(repo, "prepare"), "validate": stage(repo, "validate")}
    reasons = json.loads((repo / "outputs" / "az_whisper_validation.json").read_text())["reasons"]
    out["reasons"] = reasons
    return out


def write_bombs(path: str) -> None:
    from synthetic_corpus import SCHEMA  # tests/ is on sys.path (bench.common)

    blob = silent_wav(BOMB_BYTES)
    rows = [{"audio": {"bytes": blob, "path": f"bomb{i}.wav"}, "text": f"Partlayış {i}.", "duration": None,
             "audio_file": f"bomb{i}.wav"} for i in range(BOMBS)]
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, compression="zstd", row_group_size=BOMBS)


def chain_keys(chain: int, plain: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.arange(chain + plain)
    texts = np.where(idx < chain, (idx + 1) // 2, idx + chain).astype(str)
    audios = np.where(idx < chain, idx // 2, idx + chain).astype(str)
    return texts, audios


def split_chain() -> dict:
    from azasr.validate import VALIDATED_SCHEMA

    repo = fresh_repo(WORK / "hostile" / "chain-repo", {
        "mode": {"sample": False}, "split": {"train": 0.98, "validation": 0.0, "test": 0.02}})
    texts, audios = chain_keys(CHAIN, PLAIN)
    n = len(texts)
    table = pa.table({
        "id": pa.array([f"{i:08d}" for i in range(n)]),
        "audio": pa.array([{"bytes": b"\0" * 32, "path": None}] * n, VALIDATED_SCHEMA.field("audio").type),
        "text": pa.array(texts), "duration": pa.array(np.ones(n)), "audio_file": pa.array(audios),
        "norm_text": pa.array(texts), "audio_sha256": pa.array(audios),
    }).cast(VALIDATED_SCHEMA)
    (repo / "data" / "validated").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, repo / "data" / "validated" / "part-00000.parquet")
    log(f"hostile: split of a {CHAIN:,}-clip chain + {PLAIN:,} clips …")
    out = {"clips": n, "chain": CHAIN, "split": stage(repo, "split"), "label_propagation_s": {}}
    previous = _label_propagation()
    for length in (2_000, 10_000):
        t, a = chain_keys(length, 0)
        from azasr.split import _codes, _ranks

        tc, td = _codes(pa.array(t))
        ac, _ = _codes(pa.array(a))
        start = time.perf_counter()
        previous(tc, ac, _ranks(td))
        out["label_propagation_s"][length] = round(time.perf_counter() - start, 2)
    return out


def _label_propagation():
    """group_of_clips as it was before union-find (commit 07740c3), for the comparison."""
    def group_of_clips(text_codes, audio_codes, text_rank):
        label = text_rank.copy()
        n_audios = int(audio_codes.max()) + 1 if audio_codes.size else 0
        while True:
            audio_label = np.full(n_audios, np.iinfo(np.int64).max)
            np.minimum.at(audio_label, audio_codes, label[text_codes])
            updated = label.copy()
            np.minimum.at(updated, text_codes, audio_label[audio_codes])
            if np.array_equal(updated, label):
                return label[text_codes]
            label = updated
    return group_of_clips


def main() -> None:
    results = {"cpu": _cpu(), "blob_bomb": blob_bomb(), "split_chain": split_chain()}
    print(json.dumps(results, indent=1))


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores visible"
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
