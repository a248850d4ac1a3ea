"""Quality per configuration on the validation split: train one configuration with the train stage's
code (azasr.train.build_trainer) on data/split, then decode validation clean and with the noisy
copy (augment.NoisyCopy, evaluate's noise), as the evaluate stage decodes. Test is never read.

    python -m bench.quality --name augmented -S train.augment.noise_prob=0.5 -S train.epochs=2
    python -m bench.quality --name baseline --model data/trained     # decode an already trained model

Needs data/split and outputs/params.yaml from `dvc repro` (sample mode). Writes one JSON row to
bench/work/quality/<name>.json: the overrides, training seconds, the load average around each
phase, validation WER/CER clean and noisy. Not part of `make bench` (each row is a training run).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import yaml

from .common import REPO, WORK, log

OUT = WORK / "quality"


def set_key(params: dict, dotted: str, value: str) -> None:
    *path, last = dotted.split(".")
    section = params
    for part in path:
        section = section[part]
    section[last] = yaml.safe_load(value)


def settled_params(overrides: list[str]) -> dict:
    """outputs/params.yaml (what `dvc repro` settled) with `-S key=value` overrides applied."""
    params = yaml.safe_load((REPO / "outputs" / "params.yaml").read_text())
    for item in overrides:
        set_key(params, *item.split("=", 1))
    return params


def train(params: dict, checkpoint_dir: str) -> tuple[str, float]:
    from azasr.data import load_split
    from azasr.decode import TokenBudget
    from azasr.model import load_model, resolve_model, save_model_dir
    from azasr.train import TrainConfig, build_trainer

    config = TrainConfig.from_params(params["train"], params["seed"])
    model, processor = load_model(resolve_model(params["model"]["name"]))
    model.config.use_cache = False
    budget = TokenBudget.of_split("data/split/train.parquet")
    budget.apply_to(model.generation_config)
    trainer = build_trainer(model, processor, load_split("data/split/train.parquet"),
                            load_split("data/split/validation.parquet").sort("duration"), config,
                            checkpoint_dir=checkpoint_dir, device="cpu", world_size=1, callbacks=[],
                            token_budget=budget)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trained = f"{checkpoint_dir}/trained"
    save_model_dir(trainer.model, processor, trained)
    return trained, seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("-S", dest="overrides", action="append", default=[], help="key=value over outputs/params.yaml")
    parser.add_argument("--model", help="decode this trained model directory instead of training")
    args = parser.parse_args()
    os.chdir(REPO)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from azasr.augment import NoisyCopy
    from azasr.data import load_split
    from azasr.evaluate import decode_splits, score
    from azasr.model import resolve_model
    from azasr.precision import cpu_bf16, resolve_precision

    params = settled_params(args.overrides)
    row: dict = {"name": args.name, "overrides": args.overrides, "cpu_bf16": cpu_bf16(),
                 "load_before_train": os.getloadavg()}
    if args.model:
        trained = args.model
    else:
        trained, row["train_s"] = train(params, str(OUT / args.name))
        row["load_after_train"] = os.getloadavg()
        log(f"{args.name}: trained in {row['train_s']:.1f} s")
    validation = load_split("data/split/validation.parquet")
    precision = resolve_precision(params["evaluate"]["precision"], "cpu", inference=True)
    decoded = decode_splits(resolve_model(trained), {"validation": validation, "validation_noisy": validation},
                            params["evaluate"]["batch_size"], "cpu", precision,
                            perturb={"validation_noisy": NoisyCopy.from_params(params["evaluate"])})
    for name, result in decoded.items():
        scores = score(result)
        row[name] = {k: scores[k] for k in ("wer", "cer", "runaway", "decode_seconds")}
    row["load_after_decode"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(row, indent=1))
    log(json.dumps(row))


if __name__ == "__main__":
    main()
