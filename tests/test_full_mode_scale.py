"""Full mode (`mode.sample=false`) up to the split, on generated local mirrors of 2,000 and
8,000 clips: every clip goes through, the split is leak-free, shards stay a bounded size and
peak memory does not grow with the corpus."""

import json

import pyarrow.parquet as pq
import pytest

from conftest import copy_repo, run_in
from synthetic_corpus import write_mirror

SHARD = 400
SMALL = 2000
STAGES = ("prepare", "validate", "split")


def run_full_mode(tmp_path, clips: int) -> dict:
    mirror = write_mirror(tmp_path / "mirror", clips, shard_rows=1000, seed=clips)
    repo = copy_repo(tmp_path / "repo", {"mode": {"sample": False}, "data": {"source": str(mirror), "shard_size": SHARD}})
    run_in(repo, "dvc", "repro", "split", timeout=1200)
    stats = {s: json.loads((repo / "outputs" / "stages" / f"{s}.json").read_text()) for s in STAGES}
    split = json.loads((repo / "outputs" / "az_whisper_split_info.json").read_text())
    shards = sorted((repo / "data" / "prepared").glob("part-*.parquet"))
    return {"repo": repo, "stats": stats, "split": split, "shards": shards}


@pytest.mark.slow
def test_full_mode_on_a_local_mirror_scales_in_bounded_memory(tmp_path):
    small = run_full_mode(tmp_path / "1x", SMALL)
    large = run_full_mode(tmp_path / "4x", 4 * SMALL)
    for run, clips in ((small, SMALL), (large, 4 * SMALL)):
        assert sum(run["split"][s]["clips"] for s in ("train", "validation", "test")) == clips
        assert run["split"]["overlap"] == {"id": 0, "norm_text": 0, "audio_sha256": 0}
        assert len(run["shards"]) == clips // SHARD
        assert max(pq.ParquetFile(f).metadata.num_rows for f in run["shards"]) == SHARD
    report = {}
    for stage in STAGES:
        a, b = small["stats"][stage], large["stats"][stage]
        report[stage] = {"peak_rss_gib_1x": a["peak_rss_gib"], "peak_rss_gib_4x": b["peak_rss_gib"],
                         "workers_peak_rss_gib_4x": b["peak_rss_children_gib"],
                         "clips_per_s_4x": round(4 * SMALL / b["wall_s"], 1)}
        # A few tens of MB of ids and keys grow with the corpus; audio never does.
        assert b["peak_rss_gib"] <= 1.25 * a["peak_rss_gib"] + 0.05, (stage, a, b)
    print("\nfull mode, peak RSS and throughput:", json.dumps(report, indent=1))
