"""DVC's own cost: a no-op `dvc repro` on a completed pipeline, and what one changed training
parameter reruns (and how much of that rerun is outside the stages' own bodies).

A throw-away copy of the repository on the tests' tiny configuration (tiny random Whisper,
80 embedded clips) runs the whole pipeline once; then the timings.
"""

from __future__ import annotations

import os

import yaml

from .common import (ALWAYS_RUNS, WORK, dvc, fresh_repo, goal, log, median, module_main, pipeline_stages,
                     stage_records, timed, run_in)

TINY = {
    "experiment": {"name": "bench"},
    "data": {"sample_size": 80, "shard_size": 32},
    "model": {"name": "tiny-random-whisper"},
    "train": {"batch_size": 8, "gradient_accumulation_steps": 1, "evals_per_epoch": 1, "eval_batch_size": 8},
    "inference": {"clips": 2},
}
# params settles params.yaml; train.learning_rate is read by train; environment and export record
# the whole settled configuration; the rest is downstream of train. zero_shot is not.
EXPECTED_AFTER_LR = {"params", "environment", "train", "evaluate", "export", "inference", "ct2_export", "report"}
REPEATS = 3


def run(quick: bool) -> dict:
    # The figures are DVC's; the tiny model's stages gain nothing from a second thread, and on a
    # busy 2-core machine two OpenMP threads make its many small decoding ops many times slower.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    params = TINY if not quick else {**TINY, "data": {"sample_size": 40, "shard_size": 16}}
    repo = fresh_repo(WORK / "dvc" / "repo", params)
    log("dvc: first `dvc repro` of the tiny pipeline …")
    first_s, first_stages, _ = dvc(repo, "repro", "--no-run-cache")
    if sorted(first_stages) != sorted(pipeline_stages(repo)):
        raise RuntimeError(f"the first repro ran {first_stages}, expected every stage")

    startup = [timed(lambda: run_in(repo, "dvc", "--version"))[0] for _ in range(REPEATS)]
    noop, ran = [], []
    for i in range(REPEATS):
        seconds, stages, _ = dvc(repo, "repro")
        noop.append(seconds)
        ran += [s for s in stages if s != ALWAYS_RUNS]
        log(f"dvc: no-op repro {i + 1}/{REPEATS}: {seconds:.2f} s")
    if ran:
        raise RuntimeError(f"a no-op repro ran stages: {ran}")

    path = repo / "params.yaml"
    params_now = yaml.safe_load(path.read_text())
    params_now["train"]["learning_rate"] = 3.0e-4  # not the preset's value, which `auto` settles to
    path.write_text(yaml.safe_dump(params_now, sort_keys=False, allow_unicode=True))
    log("dvc: repro after train.learning_rate -> 3e-4 …")
    rerun_s, rerun_stages, _ = dvc(repo, "repro", "--no-run-cache")
    rerun_stages = [s for s in rerun_stages if s != ALWAYS_RUNS]
    records = stage_records(repo)
    in_stages = sum(records[s]["wall_s"] for s in rerun_stages)
    log(f"dvc: rerun {rerun_s:.1f} s, stages {rerun_stages}")

    no_op = median(noop)
    return {
        "first_repro_s": round(first_s, 2),
        "dvc_version_s": [round(s, 3) for s in startup],
        "dvc_version_median_s": round(median(startup), 3),
        "noop_repro_s": [round(s, 3) for s in noop],
        "noop_repro_median_s": round(no_op, 3),
        "rerun_after_learning_rate_s": round(rerun_s, 2),
        "rerun_stages": rerun_stages,
        "rerun_stage_bodies_s": round(in_stages, 2),
        "rerun_outside_stage_bodies_s": round(rerun_s - in_stages, 2),
        "goals": [
            goal("no-op `dvc repro` (median of 3; the source probe runs)", round(no_op, 2), "≤ 1.5 s", no_op <= 1.5,
                 "s"),
            goal("stages rerun after train.learning_rate changed", ", ".join(rerun_stages),
                 "train and downstream only (+ params, environment, export)", set(rerun_stages) == EXPECTED_AFTER_LR),
        ],
    }


if __name__ == "__main__":
    module_main(run)
