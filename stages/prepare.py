"""Seed stage 3: stream the corpus, decode and resample to 16 kHz mono FLAC, draw the seeded
sample in sample mode, and write resumable parquet shards to data/prepared/."""

import os

from azasr.data import resolve_source
from azasr.prepare import run_prepare
from azasr.stage import run_stage


def main(params):
    data = params["data"]
    source = resolve_source(data)
    workers = data["workers"]
    workers = min(os.cpu_count() or 1, 8) if workers == "auto" else int(workers)
    return run_prepare(
        source,
        "data/prepared",
        sample_size=data["sample_size"] if params["mode"]["sample"] else None,
        seed=params["seed"],
        shard_size=data["shard_size"],
        max_audio_bytes=data["max_audio_bytes"],
        max_seconds=params["validate"]["max_duration_s"],   # longer clips are rejected here, never stored
        workers=workers,
    ) | {"source": source.describe()}


if __name__ == "__main__":
    run_stage("prepare", main)
