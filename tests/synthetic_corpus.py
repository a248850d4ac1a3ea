"""A generated local mirror in the LocalDoc/azerbaijani_asr layout, any size, for full-mode scale
tests and benchmarks: short tone-and-noise clips with transcripts drawn from the embedded
sentences' vocabulary. Deterministic for a given seed.

    python tests/synthetic_corpus.py OUT_DIR --clips 5000
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SCHEMA = pa.schema([("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                    ("text", pa.string()), ("duration", pa.float64()), ("audio_file", pa.string())])


def vocabulary() -> list[str]:
    words = (REPO / "data" / "sample" / "sentences.txt").read_text(encoding="utf-8").split()
    return sorted({w.strip(".,!?;:«»\"'()—-") for w in words} - {""})


def clip(rng: np.random.Generator, seconds: float, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    freqs = rng.uniform(120, 900, size=3)
    wave = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 3
    envelope = np.clip(np.sin(np.pi * t / seconds) * 2, 0, 1)
    samples = (0.3 * wave * envelope + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def write_mirror(out_dir: str | Path, clips: int, shard_rows: int = 2000, seed: int = 0,
                 min_s: float = 0.5, max_s: float = 1.5) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = vocabulary()
    shards = (clips + shard_rows - 1) // shard_rows
    for shard in range(shards):
        rows = []
        for i in range(shard * shard_rows, min(clips, (shard + 1) * shard_rows)):
            seconds = float(rng.uniform(min_s, max_s))
            name = f"synthetic_{i:07d}.flac"
            text = " ".join(rng.choice(words, size=int(rng.integers(3, 9)))).capitalize() + "."
            rows.append({"audio": {"bytes": clip(rng, seconds), "path": name}, "text": text,
                         "duration": round(seconds, 4), "audio_file": name})
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), out / f"train-{shard:05d}-of-{shards:05d}.parquet")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--clips", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_mirror(args.out_dir, args.clips, seed=args.seed))
