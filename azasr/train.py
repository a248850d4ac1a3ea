"""Seed stage 9: fine-tune Whisper with transformers' Seq2SeqTrainer.

What this adds to the stock recipe: clips packed into shared 30-s windows (see collate.py),
length-grouped batches in a seeded order that a resumed run reproduces, clips/s in the logs,
validation WER/CER during training, and the best checkpoint kept by validation WER.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback

from . import PipelineError
from .augment import Augmenter
from .collate import SpeechCollator
from .decode import TokenBudget, greedy_decode
from .metrics import error_rates
from .precision import resolve_precision

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    batch_size: int                   # clips per device per micro-batch (the seed's 8)
    gradient_accumulation_steps: int
    learning_rate: float
    warmup_steps: int
    epochs: float
    weight_decay: float
    max_grad_norm: float
    lr_scheduler: str
    pack: bool                        # pack short clips into shared 30-s windows
    pack_gap_s: float
    eval_batch_size: int
    evals_per_epoch: int              # validation passes (loss, WER, CER) per epoch; 0: one, after the last step
    save_total_limit: int
    precision: str                    # auto | fp32 | bf16 | fp16 (precision.resolve_precision)
    gradient_checkpointing: bool
    torch_compile: bool
    freeze_encoder: bool              # train the decoder only (the encoder runs forward, no gradients)
    dataloader_workers: int | str     # auto: a few on GPU, none on CPU (the cores do the math)
    augment: dict[str, Any]           # speeds, noise_prob, noise_snr_db, mask_time_prob, mask_feature_prob
    seed: int

    @classmethod
    def from_params(cls, section: dict[str, Any], seed: int) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(section) - known - {"processes"}
        if unknown:
            raise PipelineError(f"unknown train parameter(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in section.items() if k in known}, seed=seed)


class SeededLengthGroupedSampler(Sampler[tuple[int, int]]):
    """Shuffled, length-grouped order that depends only on (seed, epoch); yields (epoch, index),
    so each row knows its epoch (EpochRows) wherever the collator runs, dataloader workers included.

    Clips are shuffled, cut into mega-batches of `group` clips, and each mega-batch is sorted by
    duration and cut into optimizer steps of `step` clips, so the clips of a step have similar
    lengths (good windows when packing, little padding otherwise). The steps are then shuffled, so
    training does not run from long clips to short ones within each mega-batch. A resumed run
    calls set_epoch with the same epoch and gets the same order, so skipping the batches already
    seen is exact.
    """

    def __init__(self, durations: list[float], step: int, seed: int, group_steps: int = 16):
        self.durations = np.asarray(durations)
        self.step = max(1, step)
        self.group = self.step * max(1, group_steps)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.durations)

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.durations))
        steps, partial = [], []
        for start in range(0, len(order), self.group):
            chunk = order[start:start + self.group]
            chunk = chunk[np.argsort(-self.durations[chunk], kind="stable")]
            for i in range(0, len(chunk), self.step):
                (steps if len(chunk[i:i + self.step]) == self.step else partial).append(chunk[i:i + self.step])
        # Incomplete steps go last, so every full step stays aligned with the micro-batches.
        for i in rng.permutation(len(steps)).tolist():
            yield from ((self.epoch, j) for j in steps[i].tolist())
        for piece in partial:
            yield from ((self.epoch, j) for j in piece.tolist())


class EpochRows(torch.utils.data.Dataset):
    """A split's rows addressed by (epoch, index), each with its epoch added: augmentation draws
    from (seed, epoch, clip id), so a resumed run augments every remaining clip as before."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        epoch, index = key
        return {**self.dataset[index], "epoch": epoch}


def apply_spec_augment(model, augment: dict[str, Any]) -> None:
    """SpecAugment as Whisper implements it (time and feature masks on the log-mel input, in
    training mode only)."""
    model.config.apply_spec_augment = augment["mask_time_prob"] > 0 or augment["mask_feature_prob"] > 0
    model.config.mask_time_prob = augment["mask_time_prob"]
    model.config.mask_feature_prob = augment["mask_feature_prob"]


class AsrTrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer with a packing train collator, a plain eval collator and clips/s logging."""

    def __init__(self, *args, eval_collator=None, train_durations=None, token_budget=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Whisper's forward takes **kwargs but averages its loss per micro-batch itself, so the
        # Trainer's guess that it normalizes by the accumulated token count is wrong and would
        # leave the loss (and gradients) gradient_accumulation_steps times too large.
        self.model_accepts_loss_kwargs = False
        self.eval_collator = eval_collator
        self.train_durations = train_durations
        self.token_budget = token_budget
        self._clips = 0
        self._last_log = (time.perf_counter(), 0)

    def _get_train_sampler(self, train_dataset=None):
        # One optimizer step's clips across all processes (DDP hands out whole micro-batches in turn).
        step = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
        return SeededLengthGroupedSampler(self.train_durations, step, self.args.seed)

    def get_eval_dataloader(self, eval_dataset=None):
        train_collator, self.data_collator = self.data_collator, self.eval_collator
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.data_collator = train_collator

    def _prepare_inputs(self, inputs):
        inputs.pop("audio_seconds", None)
        clips = inputs.pop("num_clips", None)
        if clips is not None and self.model.training:
            self._clips += int(clips)
        return super()._prepare_inputs(inputs)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        """Validation loss and greedy transcripts from one encoder pass (the stock step encodes
        twice), each clip's token budget taken from its audio as the evaluate stage does."""
        if prediction_loss_only or not self.args.predict_with_generate:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys)
        budgets = [self.token_budget.for_duration(s) for s in inputs["audio_seconds"].tolist()]
        inputs = self._prepare_inputs(inputs)
        labels = inputs["labels"]
        whisper = self.accelerator.unwrap_model(model)
        with torch.no_grad(), self.compute_loss_context_manager():
            encoded = whisper.get_encoder()(inputs["input_features"])
            loss = whisper(encoder_outputs=encoded, labels=labels).loss.detach()
            tokens = greedy_decode(whisper, encoded.last_hidden_state, budgets).tokens
        return loss, tokens, labels

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            now = time.perf_counter()
            then, clips_then = self._last_log
            clips = self._clips * self.args.world_size
            logs["clips_per_second"] = round((clips - clips_then) / max(now - then, 1e-9), 3)
            self._last_log = (now, clips)
        super().log(logs, start_time)


class _HistoryCallback(TrainerCallback):
    """Resets the throughput clock after evaluation so eval time does not count as training."""

    def __init__(self, trainer_ref: list):
        self.trainer_ref = trainer_ref

    def on_evaluate(self, args, state, control, **kwargs):
        trainer = self.trainer_ref[0]
        trainer._last_log = (time.perf_counter(), trainer._clips * args.world_size)


def make_compute_metrics(tokenizer):
    def compute_metrics(prediction) -> dict[str, float]:
        preds, labels = prediction.predictions, prediction.label_ids
        preds = np.where(preds < 0, tokenizer.pad_token_id, preds)
        labels = np.where(labels < 0, tokenizer.pad_token_id, labels)
        hyps = tokenizer.batch_decode(preds, skip_special_tokens=True)
        refs = tokenizer.batch_decode(labels, skip_special_tokens=True)
        rates = error_rates(refs, hyps)
        return {"wer": rates["wer"], "cer": rates["cer"]}

    return compute_metrics


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def latest_checkpoint(checkpoint_dir: Path, expected: str) -> str | None:
    """The newest complete checkpoint of a run with the same fingerprint, else None (and the
    directory is cleared, since its checkpoints belong to other settings or data)."""
    stamp = checkpoint_dir / "fingerprint.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") == expected:
        done = [p for p in checkpoint_dir.glob("checkpoint-*") if _complete(p)]
        if done:
            return str(max(done, key=lambda p: int(p.name.split("-")[1])))
        return None
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"fingerprint": expected}))
    return None


def _complete(checkpoint: Path) -> bool:
    """The Trainer writes trainer_state.json last, so a checkpoint whose state file parses is whole
    (a kill during that last write leaves it unparsable, and the one before is used)."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
        return True
    except (OSError, ValueError):
        return False


def steps_per_epoch(clips: int, config: TrainConfig, world_size: int) -> int:
    micro = math.ceil(clips / (config.batch_size * world_size))
    return max(1, micro // config.gradient_accumulation_steps)


class _EvaluateAtEnd(TrainerCallback):
    """Evaluate and save at the last step too, so the best-model choice sees the final weights."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_evaluate = True
            control.should_save = True


def history_rows(log_history: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Training rows (step, epoch, loss, learning rate, grad norm, clips/s) and evaluation rows."""
    train, evals = [], []
    for entry in log_history:
        if "loss" in entry:
            train.append({
                "step": entry["step"], "epoch": round(entry.get("epoch", 0.0), 4), "loss": entry["loss"],
                "learning_rate": entry.get("learning_rate"), "grad_norm": entry.get("grad_norm"),
                "clips_per_second": entry.get("clips_per_second"),
            })
        elif "eval_loss" in entry:
            evals.append({
                "step": entry["step"], "epoch": round(entry.get("epoch", 0.0), 4),
                "validation_loss": entry["eval_loss"], "wer": entry.get("eval_wer"), "cer": entry.get("eval_cer"),
            })
    return train, evals


def build_trainer(model, processor, train_ds, eval_ds, config: TrainConfig, *, checkpoint_dir: str,
                  device: str, world_size: int, callbacks: list, token_budget: TokenBudget) -> AsrTrainer:
    steps = steps_per_epoch(len(train_ds), config, world_size)
    # With no validation pass before the end there is no checkpoint to choose: the trainer then
    # still saves once per epoch (resuming), evaluates after the last step and keeps its weights.
    choose_best = config.evals_per_epoch > 0
    eval_steps = max(1, math.ceil(steps / config.evals_per_epoch)) if choose_best else None
    precision = resolve_precision(config.precision, device)
    if config.precision == "auto" and device == "cpu" and precision == "fp32":
        log.info("precision auto: fp32, as this CPU has no native bf16 (AMX or AVX-512 BF16); training takes "
                 "about twice as long as on one that has it (BENCHMARKS.md)")
    workers = config.dataloader_workers
    if workers == "auto":
        workers = 4 if device == "cuda" else 0
    args = Seq2SeqTrainingArguments(
        output_dir=checkpoint_dir,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        num_train_epochs=config.epochs,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        lr_scheduler_type=config.lr_scheduler,
        logging_steps=1,
        eval_strategy="steps" if choose_best else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps or steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=choose_best,
        metric_for_best_model="wer",
        greater_is_better=False,
        predict_with_generate=True,
        activation_checkpointing=config.gradient_checkpointing,
        torch_compile=config.torch_compile,
        dataloader_num_workers=int(workers),
        dataloader_persistent_workers=int(workers) > 0,
        remove_unused_columns=False,
        label_names=["labels"],
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=device == "cpu",
        ddp_find_unused_parameters=False,
        disable_tqdm=False,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
    )
    if config.freeze_encoder:
        model.freeze_encoder()
    apply_spec_augment(model, config.augment)
    augmenter = Augmenter.from_params(config.augment, config.seed, SpeechCollator.window_samples(processor))
    trainer_ref: list = []
    trainer = AsrTrainer(
        model=model,
        args=args,
        train_dataset=EpochRows(train_ds),
        eval_dataset=eval_ds,
        data_collator=SpeechCollator(processor, pack=config.pack, gap_s=config.pack_gap_s, augment=augmenter),
        eval_collator=SpeechCollator(processor, pack=False),
        train_durations=train_ds["duration"],
        token_budget=token_budget,
        processing_class=processor,
        compute_metrics=make_compute_metrics(processor.tokenizer),
        callbacks=[_EvaluateAtEnd(), _HistoryCallback(trainer_ref), *callbacks],
    )
    trainer_ref.append(trainer)
    return trainer
