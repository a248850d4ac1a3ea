"""Seed stages 11 and 14: training charts, results chart, and the summary a person reads first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .plots import BUCKET_LABELS, plt, save


def _with_eval(ax, evals: pd.DataFrame, column: str, label: str, color: str) -> None:
    if not evals.empty and evals[column].notna().any():
        ax.plot(evals["step"], evals[column], "o-", color=color, label=label)


def plot_loss(train: pd.DataFrame, evals: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(train["step"], train["loss"], color="#3b75af", alpha=0.5, label="training loss (per step)")
    if len(train) >= 5:
        smooth = train["loss"].rolling(5, min_periods=1).mean()
        ax.plot(train["step"], smooth, color="#3b75af", label="training loss (5-step mean)")
    _with_eval(ax, evals, "validation_loss", "validation loss", "#c44e52")
    ax.set(title="Training loss", xlabel="optimizer step", ylabel="cross-entropy per token")
    ax.legend()
    save(fig, path)


def plot_wer(evals: pd.DataFrame, path: Path, zero_shot_wer: float | None) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _with_eval(ax, evals, "wer", "validation WER", "#c44e52")
    _with_eval(ax, evals, "cer", "validation CER", "#55a868")
    if zero_shot_wer is not None:
        ax.axhline(zero_shot_wer, color="#888888", ls="--", label=f"zero-shot test WER {zero_shot_wer:.2f}")
    ax.set(title="Validation error rates (normalized)", xlabel="optimizer step", ylabel="error rate", ylim=(0, None))
    ax.legend()
    save(fig, path)


def plot_overview(train: pd.DataFrame, evals: pd.DataFrame, path: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    (loss, lr), (wer, speed) = axes
    loss.plot(train["step"], train["loss"], color="#3b75af")
    _with_eval(loss, evals, "validation_loss", "validation", "#c44e52")
    loss.set(title="Loss", xlabel="step")
    lr.plot(train["step"], train["learning_rate"], color="#8172b2")
    lr.set(title="Learning rate", xlabel="step")
    lr.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    _with_eval(wer, evals, "wer", "WER", "#c44e52")
    _with_eval(wer, evals, "cer", "CER", "#55a868")
    wer.set(title="Validation WER / CER", xlabel="step", ylim=(0, None))
    wer.legend()
    speed.plot(train["step"], train["clips_per_second"], color="#dd8452")
    speed.axhline(train["clips_per_second"].median(), color="#888888", ls="--",
                  label=f"median {train['clips_per_second'].median():.1f} clips/s")
    speed.set(title="Training throughput", xlabel="step", ylabel="clips / s")
    speed.legend()
    save(fig, path)


def plot_results(test: dict[str, Any], path: Path) -> None:
    zero = test["zero_shot"]
    fig, (overall, buckets) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [1, 2]})
    x = np.arange(2)
    for offset, scores, label, color in ((-0.2, zero, "zero-shot", "#bbbbbb"), (0.2, test, "fine-tuned", "#3b75af")):
        bars = overall.bar(x + offset, [scores["wer"], scores["cer"]], 0.4, label=label, color=color)
        overall.bar_label(bars, fmt="%.2f")
    overall.set(xticks=x, xticklabels=["WER", "CER"], title="Test split (normalized)")
    overall.legend()
    labels = [b for b in BUCKET_LABELS if b in test["by_duration"]]
    x = np.arange(len(labels))
    for offset, scores, label, color in ((-0.2, zero, "zero-shot", "#bbbbbb"), (0.2, test, "fine-tuned", "#3b75af")):
        values = [scores["by_duration"].get(b, {}).get("wer", np.nan) for b in labels]
        buckets.bar(x + offset, values, 0.4, label=label, color=color)
    buckets.set(xticks=x, xticklabels=[f"{b}\n({test['by_duration'][b]['clips']} clips)" for b in labels],
                title="Test WER by clip duration", ylabel="WER")
    buckets.legend()
    save(fig, path)


def headline_metrics(test: dict[str, Any], validation: dict[str, Any], train_stage: dict[str, Any],
                     training: dict[str, Any]) -> dict[str, Any]:
    """The few figures `dvc exp show` and `dvc metrics diff` compare at a glance (with the precisions
    the hardware settled, which params.yaml leaves at `auto`); per-bucket figures and timings stay
    in the results files and the summary."""
    zero = test["zero_shot"]
    return {
        "test_wer": test["wer"], "test_cer": test["cer"],
        "test_noisy_wer": test["noisy"]["wer"], "test_noisy_cer": test["noisy"]["cer"],
        "validation_wer": validation["wer"],
        "zero_shot_wer": zero["wer"], "zero_shot_cer": zero["cer"],
        "runaway": test["runaway"] + validation["runaway"], "zero_shot_runaway": zero["runaway"],
        "train_s": train_stage["train_runtime_s"],
        "train_precision": training["precision"], "decode_precision": test["precision"],
    }


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(ctx: dict[str, Any]) -> str:
    test, val, zero, noisy = ctx["test"], ctx["validation"], ctx["test"]["zero_shot"], ctx["test"]["noisy"]
    split, validation, train = ctx["split"], ctx["data_validation"], ctx["training"]
    results = _table(["model", "split", "WER", "CER", "WER raw", "CER raw"], [
        [f"{ctx['base_model']} (zero-shot)", "test", f"{zero['wer']:.4f}", f"{zero['cer']:.4f}", f"{zero['wer_raw']:.4f}", f"{zero['cer_raw']:.4f}"],
        ["fine-tuned", "test", f"{test['wer']:.4f}", f"{test['cer']:.4f}", f"{test['wer_raw']:.4f}", f"{test['cer_raw']:.4f}"],
        ["fine-tuned", f"test_noisy ({noisy['snr_db'][0]:g}–{noisy['snr_db'][1]:g} dB SNR, {noisy['noise']})",
         f"{noisy['wer']:.4f}", f"{noisy['cer']:.4f}", f"{noisy['wer_raw']:.4f}", f"{noisy['cer_raw']:.4f}"],
        ["fine-tuned", "validation", f"{val['wer']:.4f}", f"{val['cer']:.4f}", f"{val['wer_raw']:.4f}", f"{val['cer_raw']:.4f}"],
    ])
    buckets = _table(["duration", "clips", "zero-shot WER", "fine-tuned WER", "fine-tuned CER"], [
        [b, s["clips"], zero["by_duration"].get(b, {}).get("wer", "–"), s["wer"], s["cer"]]
        for b, s in test["by_duration"].items()
    ])
    timings = _table(["stage", "wall time (s)", "peak RSS (GiB)"], [
        [name, t["wall_s"], t["peak_rss_gib"]] for name, t in ctx["timings"].items()
    ])
    examples = _table(["duration", "reference", "hypothesis", "WER"], [
        [r["duration"], r["reference"], r["hypothesis"], r["wer"]] for r in ctx["examples"]
    ])
    reasons = ", ".join(f"{k}: {v}" for k, v in validation["reasons"].items()) or "none"
    reduction = test.get("wer_reduction")
    return f"""# {ctx['experiment']}: summary ({ctx['mode']} mode)

**Test WER {test['wer']:.4f}** (normalized; zero-shot {ctx['base_model']}: {zero['wer']:.4f},
{'a ' + format(100 * reduction, '.1f') + ' % reduction' if reduction is not None else 'no zero-shot score'}).
Test CER {test['cer']:.4f} (zero-shot {zero['cer']:.4f}). With noise the training never saw (test_noisy,
{noisy['snr_db'][0]:g}–{noisy['snr_db'][1]:g} dB SNR): WER {noisy['wer']:.4f}, CER {noisy['cer']:.4f}. Runaway hypotheses (stopped by the token budget
from the audio, without an end token): {test['runaway']} of {test['clips']} fine-tuned, {zero['runaway']} of {zero['clips']} zero-shot.

## Data
- Source: {ctx['data_source']}; {validation['total']} clips read, {validation['accepted']} accepted,
  {validation['rejected']} rejected ({reasons}).
- Split (seed {split['seed']}, grouped by normalized transcript and audio, no overlap):
  train {split['train']['clips']} clips / {split['train']['hours']:.3f} h, validation {split['validation']['clips']} / {split['validation']['hours']:.3f} h,
  test {split['test']['clips']} / {split['test']['hours']:.3f} h.

## Training
- Base model {ctx['base_model']}; {train['global_steps']} optimizer steps in {train['train_runtime_s']} s;
  best validation WER {train['best_validation_wer']} ({train['best_checkpoint'] or 'final step'}).
- Hyper-parameters: batch {train['config']['batch_size']} clips × {train['config']['gradient_accumulation_steps']} accumulation,
  learning rate {train['config']['learning_rate']}, {train['config']['warmup_steps']} warm-up steps, {train['config']['epochs']} epoch(s),
  packing {'on' if train['config']['pack'] else 'off'}, precision {train['config']['precision']},
  augmentation {train['config'].get('augment')}.

## Results
{results}

{buckets}

Inference through `pipeline()`: real-time factor {ctx['inference']['real_time_factor']} on {len(ctx['inference']['clips'])} test clips
(WAV file: "{ctx['inference']['wav_file']['hypothesis']}").

## Example predictions (test split)
{examples}

## Stage timings
{timings}

## Files
- Charts: {', '.join(f'`{c}`' for c in ctx['charts'])}
- Model: `{ctx['artifact']}` (load with `pipeline("automatic-speech-recognition", model="{ctx['artifact']}")`)
"""
