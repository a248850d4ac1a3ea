"""Sample mode end to end: `dvc repro` of the whole pipeline with default params (500 embedded
clips, whisper-base) in a fresh copy of the repository; wall time and peak RSS of every stage and
the fine-tuned test WER.

"After set-up" means the venv exists and whisper-base has been converted once into the azasr
model cache (the model stage then only resolves it); the model stage's wall time shows which.
"""

from __future__ import annotations

import json

from .common import WORK, dvc, fresh_repo, goal, log, module_main, pipeline_stages, stage_records
from .dvc_overhead import TINY

GOAL_S, GOAL_GIB = 8 * 60, 8.0


def run(quick: bool) -> dict:
    params = {**TINY, "experiment": {"name": "az_whisper"}} if quick else None
    repo = fresh_repo(WORK / "e2e" / "repo", params)
    log("e2e: dvc repro, sample mode" + (" (tiny quick config)" if quick else "") + " …")
    wall, ran, _ = dvc(repo, "repro", "--no-run-cache", timeout=3600)
    if sorted(ran) != sorted(pipeline_stages(repo)):
        raise RuntimeError(f"dvc repro ran {ran}, expected every stage")
    records = stage_records(repo)
    stages = {s: {"wall_s": records[s]["wall_s"], "peak_rss_gib": records[s]["peak_rss_gib"],
                  "peak_rss_children_gib": records[s]["peak_rss_children_gib"]} for s in ran if s in records}
    test = json.loads((repo / "outputs" / "az_whisper_test_results.json").read_text())
    split = json.loads((repo / "outputs" / "az_whisper_split_info.json").read_text())
    peak_stage = max(stages, key=lambda s: max(stages[s]["peak_rss_gib"], stages[s]["peak_rss_children_gib"]))
    peak = max(stages[peak_stage]["peak_rss_gib"], stages[peak_stage]["peak_rss_children_gib"])
    body_s = sum(s["wall_s"] for s in stages.values())
    log(f"e2e: {wall:.0f} s in all, peak RSS {peak:.2f} GiB ({peak_stage}), test WER {test['wer']}")
    return {
        "dvc_repro_s": round(wall, 1), "stage_bodies_s": round(body_s, 1),
        "outside_stage_bodies_s": round(wall - body_s, 1), "stages": stages,
        "clips": {s: split[s]["clips"] for s in ("train", "validation", "test")},
        "test_wer": test["wer"], "test_cer": test["cer"],
        "zero_shot_test_wer": test["zero_shot"]["wer"], "wer_reduction": test.get("wer_reduction"),
        "goals": [
            goal("sample mode end to end (`dvc repro`, 2 cores)", round(wall / 60, 2), "≤ 8 min",
                 wall <= GOAL_S, "min"),
            goal(f"largest stage peak RSS ({peak_stage})", round(peak, 2), "≤ 8 GiB", peak <= GOAL_GIB, "GiB"),
            goal("fine-tuned test WER (zero-shot beside it)",
                 f"{test['wer']:.4f} (zero-shot {test['zero_shot']['wer']:.4f})", "below zero-shot",
                 test["wer"] < test["zero_shot"]["wer"]),
        ],
    }


if __name__ == "__main__":
    module_main(run)
