"""Time to quality: training seconds until the validation WER first reaches a target, this
pipeline's recipe against the stock recipe, on the same model, data, schedule and precision.

ours:      the train stage's trainer (azasr.train.build_trainer) with the sample-mode settings of
           outputs/params.yaml: clips packed into shared 30-s windows.
reference: the same trainer, settings and clip order with packing off: one clip per padded 30-s
           window in micro-batches of 8, two per step (the seed's 8 x 2), as the Hugging Face
           seq2seq recipe (run_speech_recognition_seq2seq.py) feeds Whisper. Same clips per step,
           optimizer, learning-rate schedule, precision and decoding, so the ratio is what
           packing gives, measured where it matters: at equal quality.

Both score the whole validation split (greedy, the reference-free token budget) every few
optimizer steps; the clock counts training only (wall time minus the validation passes), and a
side stops once it reaches the target. Needs data/split and outputs/params.yaml (`dvc repro
split`). Test is never read.

    python -m bench.time_to_quality [--target 0.45] [--every 5]

Writes bench/work/time_to_quality.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from .common import REPO, WORK, fresh_dir, load_avg, log
from .quality import settled_params

OUT = WORK / "time_to_quality.json"
RECIPE_BATCH, CLIPS_PER_STEP = 8, 16  # the seed's per-device batch and clips per optimizer step


def run_side(params: dict, pack: bool, target: float, every: int) -> dict:
    from transformers import TrainerCallback

    from azasr.data import load_split
    from azasr.decode import TokenBudget
    from azasr.model import load_model, resolve_model
    from azasr.precision import resolve_precision
    from azasr.train import TrainConfig, build_trainer, steps_per_epoch

    train_ds = load_split("data/split/train.parquet")
    validation = load_split("data/split/validation.parquet").sort("duration")
    recipe = {} if pack else {"batch_size": RECIPE_BATCH, "gradient_accumulation_steps": CLIPS_PER_STEP // RECIPE_BATCH}
    config = TrainConfig.from_params({**params["train"], "pack": pack, **recipe}, params["seed"])
    if config.batch_size * config.gradient_accumulation_steps != CLIPS_PER_STEP:
        raise SystemExit(f"ours takes {config.batch_size * config.gradient_accumulation_steps} clips a step, "
                         f"the reference {CLIPS_PER_STEP}: the two schedules would differ")
    steps = steps_per_epoch(len(train_ds), config, 1)
    config = dataclasses.replace(config, evals_per_epoch=max(1, steps // every))
    model, processor = load_model(resolve_model(params["model"]["name"]))
    model.config.use_cache = False
    budget = TokenBudget.of_split("data/split/train.parquet")
    budget.apply_to(model.generation_config)
    name = "ours" if pack else "reference"
    trainer = build_trainer(model, processor, train_ds, validation, config,
                            checkpoint_dir=str(fresh_dir(WORK / "time_to_quality" / name)), device="cpu",
                            world_size=1, callbacks=[], token_budget=budget)
    # Checkpoints are no part of either recipe's time; the clock leaves validation out.
    trainer.args.save_strategy = "no"
    trainer.args.load_best_model_at_end = False
    evaluated: list[dict] = []
    clock = {"start": 0.0, "eval_s": 0.0}
    evaluate = trainer.evaluate

    def timed_evaluate(*args, **kwargs):
        begin = time.perf_counter()
        metrics = evaluate(*args, **kwargs)
        evaluated.append({"step": trainer.state.global_step, "train_s": round(begin - clock["start"] - clock["eval_s"], 1),
                          "eval_s": round(time.perf_counter() - begin, 1), "validation_wer": metrics["eval_wer"]})
        clock["eval_s"] += time.perf_counter() - begin
        log(f"time to quality: {name} step {trainer.state.global_step}: WER {metrics['eval_wer']:.4f} "
            f"after {evaluated[-1]['train_s']} s of training")
        return metrics

    class StopAtTarget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            clock["start"] = time.perf_counter()

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics and metrics["eval_wer"] <= target:
                control.should_training_stop = True

    trainer.evaluate = timed_evaluate
    trainer.add_callback(StopAtTarget())
    trainer.train()
    reached = next((e for e in evaluated if e["validation_wer"] <= target), None)
    return {"side": name, "pack": pack, "precision": resolve_precision(config.precision, "cpu"),
            "steps_per_epoch": steps, "evaluations": evaluated,
            "seconds_to_target": reached["train_s"] if reached else None,
            "steps_to_target": reached["step"] if reached else None}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.time_to_quality", description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.45, help="validation WER to reach")
    parser.add_argument("--every", type=int, default=5, help="optimizer steps between validation passes")
    parser.add_argument("-S", dest="overrides", action="append", default=[], help="key=value over outputs/params.yaml")
    args = parser.parse_args()
    os.chdir(REPO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from azasr.precision import cpu_bf16

    params = settled_params(args.overrides)
    result: dict = {"target_validation_wer": args.target, "every_steps": args.every, "overrides": args.overrides,
                    "model": params["model"]["name"], "cpu_bf16": cpu_bf16(), "load_avg_before": load_avg()}
    for pack in (True, False):
        result["ours" if pack else "reference"] = run_side(params, pack, args.target, args.every)
    ours, reference = result["ours"]["seconds_to_target"], result["reference"]["seconds_to_target"]
    result["speedup"] = round(reference / ours, 2) if ours and reference else None
    result["load_avg_after"] = load_avg()
    result["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    log(f"time to validation WER ≤ {args.target}: ours {ours} s, reference {reference} s, "
        f"speedup {result['speedup']}")


if __name__ == "__main__":
    main()
