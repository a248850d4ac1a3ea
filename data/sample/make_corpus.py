#!/usr/bin/env python3
"""Build the embedded Azerbaijani speech sample from sentences.txt with the espeak-ng CLI.

Each line of sentences.txt becomes one clip: espeak-ng (Debian 1.51 build) speaks it with a voice
variant, speed and pitch drawn from numpy.random.default_rng(42); the 22,050 Hz WAV is resampled to
16 kHz (soxr "HQ", nothing trimmed) and stored as 16-bit mono FLAC. The rows are written in the
LocalDoc/azerbaijani_asr parquet layout (audio struct{bytes, path}, text, duration, audio_file) as
two shards next to this script, plus manifest.json (engine version, per-clip voice/speed/pitch,
shard sha256, counts, durations). Output is byte-for-byte deterministic for a given espeak-ng build.

    python data/sample/make_corpus.py          # from the repo root, or from anywhere
"""

import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf
import soxr

HERE = Path(__file__).resolve().parent
SENTENCES = HERE / "sentences.txt"
N_SHARDS = 2
RATE = 16_000
SEED = 42
VOICES = ["az"] + [f"az+m{i}" for i in range(1, 8)] + [f"az+f{i}" for i in range(1, 6)]
SPEED = (140, 186)   # words per minute, espeak -s; drawn uniformly from [lo, hi)
PITCH = (35, 71)     # espeak -p (0-99); drawn uniformly from [lo, hi)
BUCKETS = [(0, 2), (2, 5), (5, 10), (10, 20), (20, float("inf"))]
SCHEMA = pa.schema(
    [("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
     ("text", pa.string()), ("duration", pa.float64()), ("audio_file", pa.string())],
    # The same feature description the Hugging Face hub writes, so `datasets` sees an Audio column.
    metadata={"huggingface": json.dumps({"info": {"features": {
        "audio": {"sampling_rate": RATE, "_type": "Audio"},
        "text": {"dtype": "string", "_type": "Value"},
        "duration": {"dtype": "float64", "_type": "Value"},
        "audio_file": {"dtype": "string", "_type": "Value"}}}})},
)


def espeak_version() -> str:
    if shutil.which("espeak-ng") is None:
        sys.exit("make_corpus.py: espeak-ng not found on PATH; install it with: apt-get install espeak-ng")
    return subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout.strip()


def synthesize(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng WAV on stdout -> float32 mono samples at 16 kHz."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         capture_output=True, check=True).stdout
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    return soxr.resample(samples.mean(axis=1), rate, RATE, quality="HQ").astype(np.float32)


def to_flac(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), RATE, format="FLAC", subtype="PCM_16",
             compression_level=1.0)  # strongest FLAC setting: smaller, still lossless and deterministic
    return buf.getvalue()


def main() -> None:
    started = time.time()
    version = espeak_version()
    texts = SENTENCES.read_text(encoding="utf-8").splitlines()
    if any(not t.strip() or t.startswith("-") for t in texts):
        sys.exit(f"{SENTENCES}: blank line or line starting with '-' (espeak would read it as an option)")

    # Draw every clip's voice settings up front, in sentence order, from one seeded generator.
    rng = np.random.default_rng(SEED)
    settings = [(VOICES[rng.integers(len(VOICES))], int(rng.integers(*SPEED)), int(rng.integers(*PITCH)))
                for _ in texts]

    rows = []
    for i, (text, (voice, speed, pitch)) in enumerate(zip(texts, settings)):
        samples = synthesize(text, voice, speed, pitch)
        if not np.abs(samples).max() > 0.01:
            sys.exit(f"clip {i} ({text!r}) came out silent")
        name = f"az_sample_{i:05d}.flac"
        rows.append({"audio": {"bytes": to_flac(samples), "path": name}, "text": text,
                     "duration": len(samples) / RATE, "audio_file": name})
        if (i + 1) % 100 == 0 or i + 1 == len(texts):
            print(f"  synthesized {i + 1}/{len(texts)} clips ({time.time() - started:.0f} s)", flush=True)

    shards = {}
    per_shard = -(-len(rows) // N_SHARDS)
    for k in range(N_SHARDS):
        path = HERE / f"train-{k:05d}-of-{N_SHARDS:05d}.parquet"
        table = pa.Table.from_pylist(rows[k * per_shard:(k + 1) * per_shard], schema=SCHEMA)
        pq.write_table(table, path, compression="zstd", compression_level=9, row_group_size=256,
                       use_dictionary=["text"], write_statistics=False)
        shards[path.name] = {"rows": table.num_rows, "bytes": path.stat().st_size,
                             "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        print(f"  wrote {path.name}: {table.num_rows} rows, {path.stat().st_size / 1e6:.1f} MB")

    durations = np.array([r["duration"] for r in rows])
    buckets = {f"{lo}-{hi} s" if hi != float("inf") else f"{lo}+ s":
               round(100 * float(np.mean((durations >= lo) & (durations < hi))), 2) for lo, hi in BUCKETS}
    manifest = {
        "description": "Embedded Azerbaijani speech sample, LocalDoc/azerbaijani_asr layout; see README.md",
        "license": "CC0-1.0",
        "engine": {"name": "espeak-ng", "version": version, "cli": "espeak-ng -v VOICE -s SPEED -p PITCH --stdout TEXT"},
        "audio": {"sample_rate": RATE, "channels": 1, "format": "FLAC", "subtype": "PCM_16",
                  "flac_compression_level": 1.0,
                  "resampler": "soxr HQ from espeak-ng's 22050 Hz", "trimmed": False},
        "seed": SEED, "voices": VOICES, "speed_range": list(SPEED), "pitch_range": list(PITCH),
        "clips": len(rows),
        "total_duration_s": round(float(durations.sum()), 3),
        "duration_s": {"min": round(float(durations.min()), 3), "median": round(float(np.median(durations)), 3),
                       "max": round(float(durations.max()), 3)},
        "duration_bucket_pct": buckets,
        "shards": shards,
        "total_bytes": sum(s["bytes"] for s in shards.values()),
        "clip_settings": [{"audio_file": r["audio_file"], "voice": v, "speed": s, "pitch": p}
                          for r, (v, s, p) in zip(rows, settings)],
    }
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"done: {len(rows)} clips, {durations.sum() / 60:.1f} min, {manifest['total_bytes'] / 1e6:.1f} MB, "
          f"buckets {buckets}, {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
