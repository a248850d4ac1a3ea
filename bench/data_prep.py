"""Data preparation at scale: prepare + validate + split (`dvc repro split`, full mode) on generated
mirrors of 1x, 4x and 16x a base corpus; clips/s and peak RSS per stage, and how peak RSS grows.

Goal: peak RSS at 16x at most 1.2x that at 1x, for every stage (the main process; the prepare
workers' peak is reported beside it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from .common import ALWAYS_RUNS, WORK, dvc, fresh_repo, goal, log, module_main, stage_records, timed

from synthetic_corpus import write_mirror  # tests/ is on sys.path (bench.common)

STAGES = ("prepare", "validate", "split")
SCALES = (1, 4, 16)
BASE_CLIPS = 2000
SHARD = 1000


def mirror(clips: int) -> tuple[Path, float | None]:
    """A generated mirror of `clips` clips, reused when an earlier run left a complete one."""
    path = WORK / "data" / f"mirror-{clips}"
    stamp = path / "complete.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("clips") == clips:
        return path, None
    log(f"data: generating a {clips:,}-clip mirror …")
    seconds, _ = timed(lambda: write_mirror(path, clips, shard_rows=2000, seed=clips))
    stamp.write_text(json.dumps({"clips": clips}))
    return path, seconds


def run_scale(clips: int) -> dict:
    source, gen_s = mirror(clips)
    repo = fresh_repo(WORK / "data" / f"repo-{clips}",
                      {"mode": {"sample": False}, "data": {"source": str(source), "shard_size": SHARD}})
    log(f"data: dvc repro split on {clips:,} clips …")
    wall, ran, _ = dvc(repo, "repro", "--no-run-cache", "split")
    if [s for s in ran if s not in ("params", ALWAYS_RUNS)] != list(STAGES):
        raise RuntimeError(f"`dvc repro split` ran {ran}, expected params, {ALWAYS_RUNS} and {STAGES}")
    split = json.loads((repo / "outputs" / "az_whisper_split_info.json").read_text())
    total = sum(split[s]["clips"] for s in ("train", "validation", "test"))
    shards = sorted((repo / "data" / "prepared").glob("part-*.parquet"))
    records = stage_records(repo)
    stages = {}
    for s in STAGES:
        r = records[s]
        stages[s] = {"wall_s": r["wall_s"], "clips_per_s": round(clips / r["wall_s"], 1),
                     "peak_rss_gib": r["peak_rss_gib"], "peak_rss_children_gib": r["peak_rss_children_gib"]}
    body_s = sum(records[s]["wall_s"] for s in STAGES)
    log(f"data: {clips:,} clips: {clips / body_s:.0f} clips/s over the three stages, peak RSS "
        + ", ".join(f"{s} {stages[s]['peak_rss_gib']:.2f}" for s in STAGES) + " GiB")
    return {
        "clips": clips, "split_clips": total, "prepared_shards": len(shards),
        "largest_shard_rows": max((pq.ParquetFile(f).metadata.num_rows for f in shards), default=0),
        "mirror_generation_s": round(gen_s, 1) if gen_s is not None else None,
        "dvc_repro_s": round(wall, 2), "stage_bodies_s": round(body_s, 2),
        "clips_per_s": round(clips / body_s, 1), "stages": stages,
    }


def run(quick: bool) -> dict:
    base = 100 if quick else BASE_CLIPS
    runs = {f"{k}x": run_scale(k * base) for k in SCALES}
    small, large = runs["1x"], runs[f"{SCALES[-1]}x"]
    growth = {s: round(large["stages"][s]["peak_rss_gib"] / small["stages"][s]["peak_rss_gib"], 3) for s in STAGES}
    worker = {s: (round(large["stages"][s]["peak_rss_children_gib"] / small["stages"][s]["peak_rss_children_gib"], 3)
                  if small["stages"][s]["peak_rss_children_gib"] > 0 else None) for s in STAGES}
    worst = max(growth, key=growth.get)
    complete = all(r["split_clips"] == r["clips"] for r in runs.values())
    return {
        "base_clips": base, "shard_size": SHARD, "runs": runs,
        "peak_rss_growth_16x_over_1x": growth,
        "workers_peak_rss_growth_16x_over_1x": worker,
        "goals": [
            goal(f"peak RSS 16x / 1x, worst stage ({worst})", growth[worst], "≤ 1.2×", growth[worst] <= 1.2, "×"),
            goal("prepare workers' peak RSS 16x / 1x", worker["prepare"], "≤ 1.2× (reported)",
                 worker["prepare"] <= 1.2 if worker["prepare"] is not None else None, "×"),
            goal("every clip reaches the split at every scale", complete, "all", complete),
        ],
    }


if __name__ == "__main__":
    module_main(run)
