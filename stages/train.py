"""Seed stages 8–9: preprocessing on the fly (decode, pack, log-mel, labels) and fine-tuning.

Resumes from the newest checkpoint in data/checkpoints/ when the settings and data are the same
(a crashed or killed run continues, same data order); keeps the best model by validation WER.
Under torchrun / accelerate launch it trains on every process (DDP); with train.processes above 1
and no launcher it starts torchrun itself, on one node or (PET_NNODES etc. set) on several.
"""

import os
import sys
from pathlib import Path

from azasr.stage import run_stage

CHECKPOINTS = "data/checkpoints"
TRAINED = "data/trained"


def relaunch_if_needed(processes) -> None:
    """Without a launcher, start torchrun with `processes` per node. One node: --standalone.
    Several nodes: torchrun's own PET_* environment variables (PET_NNODES, PET_RDZV_BACKEND,
    PET_RDZV_ENDPOINT, PET_RDZV_ID) say where to meet, so node 0 runs `dvc repro` and the other
    nodes `python -m stages.train` in the same (shared) work tree with the same variables."""
    import torch

    if "LOCAL_RANK" in os.environ:
        return  # already under torchrun / accelerate launch
    if processes == "auto":
        processes = torch.cuda.device_count() if torch.cuda.is_available() else 1
    nodes = os.environ.get("PET_NNODES", "1")
    if int(processes) > 1 or nodes != "1":
        where = ["--standalone"] if nodes == "1" else []
        each = "" if nodes == "1" else f" on each of {nodes} nodes"
        print(f"[train] launching {processes} processes with torchrun{each}", file=sys.stderr, flush=True)
        os.execvp(sys.executable, [sys.executable, "-m", "torch.distributed.run", *where,
                                   f"--nproc_per_node={int(processes)}", "-m", "stages.train"])


def main(params):
    relaunch_if_needed(params["train"].get("processes", "auto"))

    import pandas as pd
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    from azasr.data import load_split
    from azasr.decode import TokenBudget
    from azasr.env import choose_device
    from azasr.io import atomic_dir, read_json, write_csv, write_json
    from azasr.model import load_model, resolve_model, save_model_dir
    from azasr.stage import code_fingerprint, experiment_path
    from azasr.train import TrainConfig, build_trainer, fingerprint, history_rows, latest_checkpoint

    config = TrainConfig.from_params(params["train"], params["seed"])
    resolved = resolve_model(params["model"]["name"])
    model, processor = load_model(resolved)
    model.config.use_cache = False
    train_ds = load_split("data/split/train.parquet")
    eval_ds = load_split("data/split/validation.parquet").sort("duration")
    token_budget = TokenBudget.of_split("data/split/train.parquet")
    token_budget.apply_to(model.generation_config)
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    rank0 = int(os.environ.get("RANK", 0)) == 0

    live = Live(dir="outputs/dvclive", dvcyaml=None, save_dvc_exp=False, report=None) if rank0 else None
    trainer = build_trainer(
        model, processor, train_ds, eval_ds, config,
        checkpoint_dir=CHECKPOINTS, device=choose_device(), world_size=world_size,
        callbacks=[DVCLiveCallback(live=live)] if rank0 else [], token_budget=token_budget,
    )
    split_info = read_json(experiment_path(params, "outputs", "split_info.json"))
    # Checkpoints are reused only by a run that would redo exactly the same steps: same settings,
    # weights, data content (ids, transcripts, audio), process count and training code (DVC reruns
    # this stage when the code changes, and stale checkpoints must not be resumed then).
    run_id = fingerprint(config.__dict__, resolved.weights_sha256, world_size,
                         [split_info[s]["content_sha256"] for s in ("train", "validation")],
                         code_fingerprint())
    # The first process of all goes first (not one per node): with several nodes the work tree is
    # on a shared filesystem, and only one process may clear stale checkpoints there.
    with trainer.args.main_process_first(local=False, desc="checkpoint lookup"):
        resume = latest_checkpoint(Path(CHECKPOINTS), run_id)
    if resume and rank0:
        print(f"[train] resuming from {resume}", file=sys.stderr, flush=True)
    result = trainer.train(resume_from_checkpoint=resume)
    if not trainer.is_world_process_zero():
        return None

    train_rows, eval_rows = history_rows(trainer.state.log_history)
    write_csv(experiment_path(params, "outputs", "training_history.csv"), pd.DataFrame(train_rows))
    write_csv(experiment_path(params, "outputs", "eval_history.csv"), pd.DataFrame(eval_rows))
    summary = {
        "base_model": resolved.as_dict(),
        "global_steps": trainer.state.global_step,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "best_validation_wer": trainer.state.best_metric,
        "train_loss": result.metrics.get("train_loss"),
        "world_size": world_size,
        "precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
        "token_budget": token_budget.as_dict(),
        "config": config.__dict__,
    }
    with atomic_dir(TRAINED) as tmp:
        save_model_dir(trainer.model, processor, tmp)
        write_json(tmp / "training_summary.json", summary)
    # Wall times and the resume point vary from run to run: they go to the stage record, never
    # into data/trained, whose hash must depend on the inputs alone.
    return {"global_steps": summary["global_steps"], "best_validation_wer": summary["best_validation_wer"],
            "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 2), "resumed_from": resume}


if __name__ == "__main__":
    run_stage("train", main)
