"""Training throughput: this pipeline's recipe against the stock Hugging Face seq2seq recipe, on the
same model and the same clips.

ours:      azasr.train.build_trainer (the train stage's path): SpeechCollator(pack=True), batch 8
           clips, SeededLengthGroupedSampler order, precision resolve_precision("auto", "cpu").
reference: a plain torch loop written here: one clip per padded 30-s window
           (WhisperFeatureExtractor, via SpeechCollator(pack=False) so that the labels are the
           same), batch 8, random order, fp32.
ours_unpacked: ours with packing off (for information: what the trainer gives without packing).
All:       AdamW lr 1e-5 (constant, no warm-up, no weight decay), gradient clipping 1.0, no
           gradient accumulation, one pass over the same training clips.

Each side runs in its own process (its own peak RSS), and the sides take turns step by step
(the parent says go, one side runs one optimizer step, reports, the next side runs its step), so
that a change in the shared machine's load falls on every side alike. A step's time runs from
its batch's collation (decoding audio, packing, log-mel, labels) to the end of the optimizer
step. Throughput is clips / seconds over the steps after the first (the first pays one-time
set-up). Quality: after training, each side's model scores the same held-out clips, unpacked,
fp32: mean per-token cross-entropy (packed and unpacked training losses are not comparable).
The starting model's held-out loss is reported too.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from pathlib import Path

import numpy as np

from .common import WORK, SAMPLE, fresh_dir, goal, log, module_main, peak_rss_gib

MODEL = "openai/whisper-base"
TRAIN_CLIPS, HELDOUT_CLIPS = 96, 32
BATCH, LR, SEED = 8, 1e-5, 42
SIDES = ("reference", "ours_unpacked", "ours")  # the order of each round of steps


# --------------------------------------------------------------------------------------------------
# Data: the same clips for both sides


def select_clips(train: int, heldout: int, out: Path) -> dict[str, Path]:
    """`train` + `heldout` clips of the embedded corpus (seeded, distinct sentences) as parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Without the shards' `huggingface` metadata: datasets would decode an Audio feature (torchcodec).
    table = pa.concat_tables([pq.read_table(p) for p in sorted(SAMPLE.glob("*.parquet"))]).replace_schema_metadata(None)
    table = table.append_column("id", pa.array([f"{i:08d}" for i in range(table.num_rows)]))
    order = np.random.default_rng(0).permutation(table.num_rows)
    texts = table.column("text").to_pylist()
    chosen, seen = [], set()
    for i in order:
        if texts[i].strip().lower() not in seen:
            seen.add(texts[i].strip().lower())
            chosen.append(int(i))
        if len(chosen) == train + heldout:
            break
    paths = {"train": out / "train.parquet", "heldout": out / "heldout.parquet"}
    pq.write_table(table.take(chosen[:train]), paths["train"])
    pq.write_table(table.take(chosen[train:]), paths["heldout"])
    return paths


# --------------------------------------------------------------------------------------------------
# What both sides share: the held-out loss


def heldout_loss(model, processor, rows: list[dict], batch: int = 8) -> dict[str, float]:
    """Mean per-token cross-entropy on `rows`, one clip per window, fp32, labels as in training:
    over all label tokens; over the tokens greedy decoding predicts (all but the language, task and
    no-timestamps tokens, which decoding forces); and apart for those prompt tokens, the first
    text token, the other text tokens and end-of-text."""
    import torch
    import torch.nn.functional as F

    from azasr.collate import SpeechCollator

    collator = SpeechCollator(processor, pack=False)
    eos = processor.tokenizer.eos_token_id
    model.eval()
    sums = {"all": 0.0, "decoded": 0.0, "prompt": 0.0, "first_text": 0.0, "text": 0.0, "end_of_text": 0.0}
    counts = dict.fromkeys(sums, 0)
    with torch.inference_mode():
        for i in range(0, len(rows), batch):
            inputs = collator(rows[i:i + batch])
            labels = inputs["labels"]
            logits = model(input_features=inputs["input_features"], labels=labels).logits.float()
            losses = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
            position = torch.arange(labels.shape[1]).expand_as(labels)
            kinds = {"all": labels != -100, "decoded": position >= 3, "prompt": position < 3,
                     "first_text": position == 3, "end_of_text": labels == eos}
            kinds["text"] = kinds["all"] & ~kinds["prompt"] & ~kinds["first_text"] & ~kinds["end_of_text"]
            for kind, mask in kinds.items():
                mask = mask & (labels != -100)
                sums[kind] += float(losses[mask].sum())
                counts[kind] += int(mask.sum())
    return {kind: round(sums[kind] / max(counts[kind], 1), 5) for kind in sums}


class Turns:
    """One side's end of the turn-taking: wait for the parent's go, time the step, report it."""

    def __init__(self, conn):
        self.conn = conn
        self.steps: list[float] = []
        self.clips: list[int] = []
        self.collate_s: list[float] = []  # ours: collation runs ahead of the step (prefetch), timed apart
        self._t0 = 0.0

    def ready(self):
        self.conn.send("ready")

    def begin(self):
        self.conn.recv()
        self._t0 = time.perf_counter()

    def end(self, clips: int):
        seconds = time.perf_counter() - self._t0
        seconds += self.collate_s[len(self.steps)] if self.collate_s else 0.0
        self.steps.append(seconds)
        self.clips.append(clips)
        self.conn.send(seconds)

    def summary(self) -> dict:
        steps = np.array(self.steps)
        steady_s, steady_clips = float(steps[1:].sum()), int(sum(self.clips[1:]))
        return {"steps": len(steps), "step_s": [round(float(s), 2) for s in steps],
                "clips": int(sum(self.clips)), "total_s": round(float(steps.sum()), 2),
                "clips_per_s_all": round(sum(self.clips) / float(steps.sum()), 4),
                "steady_s": round(steady_s, 2), "steady_clips": steady_clips,
                "clips_per_s": round(steady_clips / steady_s, 4) if steady_s else None}


# --------------------------------------------------------------------------------------------------
# The sides


def train_ours(model, processor, train_ds, work: Path, turns: Turns, pack: bool) -> dict:
    from transformers import TrainerCallback

    from azasr.augment import NO_AUGMENT
    from azasr.precision import resolve_precision
    from azasr.decode import TokenBudget
    from azasr.tokens import text_token_counts
    from azasr.train import TrainConfig, build_trainer

    config = TrainConfig(batch_size=BATCH, gradient_accumulation_steps=1, learning_rate=LR, warmup_steps=0,
                         epochs=1, weight_decay=0.0, max_grad_norm=1.0, lr_scheduler="constant", pack=pack,
                         pack_gap_s=0.2, eval_batch_size=BATCH, evals_per_epoch=1, save_total_limit=1,
                         precision="auto", gradient_checkpointing=False, torch_compile=False, freeze_encoder=False,
                         dataloader_workers="auto", augment=NO_AUGMENT, seed=SEED)  # same audio on both sides

    class Gate(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            turns.ready()

        def on_step_begin(self, args, state, control, **kw):
            turns.begin()

        def on_step_end(self, args, state, control, **kw):
            turns.end(trainer._clips - sum(turns.clips))
            if state.global_step >= state.max_steps:
                turns.conn.recv()  # the final evaluation and save wait until every side is done

    # The stage's trainer evaluates (and saves) once at the end; two short clips keep that cheap.
    eval_ds = train_ds.sort("duration").select(range(2))
    trainer = build_trainer(model, processor, train_ds, eval_ds, config, checkpoint_dir=str(work / "checkpoints"),
                            device="cpu", world_size=1, callbacks=[Gate()],
                            token_budget=TokenBudget.from_corpus(text_token_counts(train_ds["text"]),
                                                                train_ds["duration"]))
    windows = []
    collate = trainer.data_collator

    def timed_collator(rows):
        start = time.perf_counter()
        batch = collate(rows)
        turns.collate_s.append(time.perf_counter() - start)
        windows.append(int(batch["input_features"].shape[0]))
        return batch

    trainer.data_collator = timed_collator
    trainer.train()
    return {"precision": resolve_precision("auto", "cpu"), "windows_per_step": windows[:len(turns.steps)],
            "encoder_windows": int(sum(windows[:len(turns.steps)]))}


def train_reference(model, processor, train_rows: list[dict], turns: Turns) -> dict:
    """The stock recipe by hand: one clip per padded 30-s window, random order, fp32, AdamW.

    Features and labels come from SpeechCollator(pack=False): exactly the stock data collator
    (WhisperFeatureExtractor per clip, padded labels masked with -100) and, so, the same label
    text as ours. What differs is only packing, order and precision.
    """
    import torch

    from azasr.collate import SpeechCollator

    collate = SpeechCollator(processor, pack=False)
    torch.manual_seed(SEED)
    order = torch.randperm(len(train_rows)).tolist()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    model.train()
    turns.ready()
    for begin in range(0, len(order), BATCH):
        turns.begin()
        batch = collate([train_rows[i] for i in order[begin:begin + BATCH]])
        loss = model(input_features=batch["input_features"], labels=batch["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        turns.end(int(batch["num_clips"]))
    turns.conn.recv()
    return {"precision": "fp32", "encoder_windows": len(order)}


def run_side(side: str, model_name: str, work: Path, conn) -> None:
    """One side, in its own process; sends its result dict through `conn` at the end."""
    import torch

    from azasr.data import load_split
    from azasr.model import load_model, resolve_model

    random.seed(SEED), np.random.seed(SEED), torch.manual_seed(SEED)
    model, processor = load_model(resolve_model(model_name))
    model.config.use_cache = False
    train_ds = load_split(work / "train.parquet")
    heldout = load_split(work / "heldout.parquet").to_list()
    result: dict = {"side": side, "torch_threads": torch.get_num_threads()}
    if side == "reference":
        result["heldout_loss_before"] = heldout_loss(model, processor, heldout)
    turns = Turns(conn)
    if side == "reference":
        result.update(train_reference(model, processor, train_ds.to_list(), turns))
    else:
        result.update(train_ours(model, processor, train_ds, fresh_dir(work / side), turns,
                                 pack=side == "ours"))
    result.update(turns.summary(), peak_rss_training_gib=round(peak_rss_gib(), 3))
    result["heldout_loss"] = heldout_loss(model, processor, heldout)
    result["peak_rss_gib"] = round(peak_rss_gib(), 3)
    conn.send(result)


# --------------------------------------------------------------------------------------------------
# The benchmark


def run(quick: bool) -> dict:
    model = "tiny-random-whisper" if quick else MODEL
    train, heldout = (16, 8) if quick else (TRAIN_CLIPS, HELDOUT_CLIPS)
    work = fresh_dir(WORK / "training")
    select_clips(train, heldout, work)
    steps = -(-train // BATCH)
    ctx = multiprocessing.get_context("spawn")
    conns, procs = {}, {}
    log(f"training: {', '.join(SIDES)} on {train} clips ({model}), {steps} steps each, in turn …")
    for side in SIDES:
        conns[side], child = ctx.Pipe()
        procs[side] = ctx.Process(target=run_side, args=(side, model, work, child), name=f"bench-{side}")
        procs[side].start()
    for side in SIDES:
        if conns[side].recv() != "ready":
            raise RuntimeError(f"{side} did not start")
    elapsed = {side: 0.0 for side in SIDES}
    for step in range(steps):
        for side in SIDES:
            conns[side].send("go")
            elapsed[side] += conns[side].recv()
        log(f"training: step {step + 1}/{steps}: " + ", ".join(f"{s} {t:.0f} s" for s, t in elapsed.items()))
    for side in SIDES:
        conns[side].send("finish")
    sides = {side: conns[side].recv() for side in SIDES}
    for side in SIDES:
        procs[side].join()
        s = sides[side]
        log(f"training: {side}: {s['clips_per_s']} clips/s (steps 2+), held-out loss {s['heldout_loss']}, "
            f"peak RSS {s['peak_rss_gib']} GiB")
    ours, ref, unpacked = sides["ours"], sides["reference"], sides["ours_unpacked"]
    speedup = ours["clips_per_s"] / ref["clips_per_s"]
    return {
        "model": model, "train_clips": train, "heldout_clips": heldout, "batch": BATCH, "learning_rate": LR,
        "ours": ours, "reference": ref, "ours_unpacked": unpacked,
        "speedup": round(speedup, 3),
        "speedup_all_steps": round(ours["clips_per_s_all"] / ref["clips_per_s_all"], 3),
        "speedup_unpacked": round(unpacked["clips_per_s"] / ref["clips_per_s"], 3),
        "heldout_loss_before": ref["heldout_loss_before"],
        "goals": [
            goal("training clips/s, ours / HF recipe", round(speedup, 2), "≥ 4×", speedup >= 4, "×"),
            goal(f"held-out loss after {train} clips, ours vs HF recipe",
                 f"{ours['heldout_loss']['all']:.4f} vs {ref['heldout_loss']['all']:.4f}", "not worse",
                 ours["heldout_loss"]["all"] <= ref["heldout_loss"]["all"]),
            goal(f"held-out loss after {train} clips on the tokens decoding predicts (prompt forced), ours vs HF recipe",
                 f"{ours['heldout_loss']['decoded']:.4f} vs {ref['heldout_loss']['decoded']:.4f}", "—", None),
            goal("training clips/s, ours unpacked / HF recipe", round(unpacked["clips_per_s"] / ref["clips_per_s"], 2),
                 "—", None, "×"),
        ],
    }


if __name__ == "__main__":
    module_main(run)
