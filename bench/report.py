"""bench/results.json and the tables in BENCHMARKS.md: the machine, then every goal with its
value and pass/miss, then the details of each benchmark.

Text in BENCHMARKS.md below the NOTES_MARK line is kept when the file is rewritten (notes on the
figures, profiles of missed goals).
"""

from __future__ import annotations

import datetime
import importlib.metadata as md
import json
import os
import platform
import subprocess
from pathlib import Path

from .common import REPO

NOTES_MARK = "<!-- notes: everything below this line is kept when `make bench` rewrites this file -->"
PACKAGES = ["torch", "transformers", "datasets", "accelerate", "tokenizers", "ctranslate2", "dvc", "numpy",
            "pyarrow", "soundfile", "soxr", "jiwer"]
TITLES = {"dvc": "DVC overhead", "data": "Data preparation (full mode, generated mirror)",
          "training": "Training throughput", "decoding": "Decoding", "e2e": "Sample mode end to end"}


def machine() -> dict:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1] if Path("/proc/meminfo").exists() else "0"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    return {
        "cpu": model, "cores": os.cpu_count(), "amx_bf16": "amx_bf16" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "ram_gib": round(int(mem) / 2**20, 1), "os": platform.platform(), "python": platform.python_version(),
        "date": datetime.date.today().isoformat(), "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "threads": os.environ.get("OMP_NUM_THREADS", "library default"),
        "packages": {p: _version(p) for p in PACKAGES},
    }


def cpu_kind(m: dict) -> str:
    """How the CPU does bf16, which decides the precision `auto` picks and most speed ratios."""
    if m.get("amx_bf16"):
        return " (AMX bf16)"
    return " (AVX-512 BF16, no AMX)" if m.get("avx512_bf16") else " (no native bf16)"


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def _mark(passed) -> str:
    return {True: "pass", False: "**miss**", None: "info"}[passed]


def _fmt(value, unit: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{value} {unit}".strip() if unit and unit not in ("×",) else f"{value}{unit}"


def goal_rows(results: dict) -> list[str]:
    rows = ["| benchmark | figure | value | goal | result |", "|---|---|---|---|---|"]
    for key, section in results["benchmarks"].items():
        if "error" in section:
            rows.append(f"| {TITLES.get(key, key)} | (failed) | {section['error'][:120]} | | **miss** |")
            continue
        for g in section.get("goals", []):
            rows.append(f"| {TITLES.get(key, key)} | {g['name']} | {_fmt(g['value'], g['unit'])} | {g['goal']} | "
                        f"{_mark(g['passed'])} |")
    return rows


# --------------------------------------------------------------------------------------------------
# Details, one small table per benchmark


def details_dvc(r: dict) -> list[str]:
    return [
        f"Tiny configuration (tiny random Whisper, 80 clips); first full `dvc repro` {r['first_repro_s']} s.",
        "",
        "| measurement | seconds |", "|---|---|",
        f"| no-op `dvc repro` (3 runs) | {', '.join(map(str, r['noop_repro_s']))} (median {r['noop_repro_median_s']}) |",
        f"| `dvc --version` (interpreter + import, 3 runs, median) | {r['dvc_version_median_s']} |",
        f"| rerun after `train.learning_rate` changed | {r['rerun_after_learning_rate_s']} |",
        f"| … of which inside the stages' bodies (outputs/stages/*.json) | {r['rerun_stage_bodies_s']} |",
        f"| … of which outside them (DVC, interpreter start-up, imports) | {r['rerun_outside_stage_bodies_s']} |",
        "",
        f"Stages rerun: {', '.join(r['rerun_stages'])}.",
    ]


def details_data(r: dict) -> list[str]:
    rows = [f"prepare + validate + split (`dvc repro split`, full mode, shard size {r['shard_size']}) on generated "
            f"mirrors; 1x = {r['base_clips']:,} clips.", "",
            "| scale | clips | clips/s (3 stages) | prepare clips/s | validate clips/s | split clips/s | "
            "peak RSS prepare / validate / split (GiB) | prepare workers' peak (GiB) |",
            "|---|---|---|---|---|---|---|---|"]
    for scale, run in r["runs"].items():
        st = run["stages"]
        rows.append(f"| {scale} | {run['clips']:,} | {run['clips_per_s']} | {st['prepare']['clips_per_s']} | "
                    f"{st['validate']['clips_per_s']} | {st['split']['clips_per_s']} | "
                    f"{st['prepare']['peak_rss_gib']} / {st['validate']['peak_rss_gib']} / {st['split']['peak_rss_gib']} | "
                    f"{st['prepare']['peak_rss_children_gib']} |")
    growth = r["peak_rss_growth_16x_over_1x"]
    rows += ["", "Peak RSS 16x / 1x: " + ", ".join(f"{s} {v}×" for s, v in growth.items()) + "."]
    return rows


def details_training(r: dict) -> list[str]:
    names = {"ours": "ours (build_trainer: packed, length-grouped)", "ours_unpacked": "ours, packing off",
             "reference": "HF seq2seq recipe (plain loop)"}
    kinds = ("all", "decoded", "prompt", "first_text", "text", "end_of_text")
    rows = [
        f"{r['model']}, the same {r['train_clips']} embedded clips, batch {r['batch']}, AdamW lr {r['learning_rate']} "
        f"constant, one pass; the sides took turns step by step. Held-out loss: mean per-token cross-entropy on "
        f"{r['heldout_clips']} other clips, unpacked, fp32.", "",
        "| side | precision | encoder windows | clips/s (steps 2+) | clips/s (all steps) | step seconds | peak RSS (GiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    sides = [key for key in names if key in r]
    for key in sides:
        s = r[key]
        rows.append(f"| {names[key]} | {s['precision']} | {s['encoder_windows']} | {s['clips_per_s']} | "
                    f"{s['clips_per_s_all']} | {', '.join(map(str, s['step_s']))} | {s['peak_rss_gib']} |")
    rows += ["", f"Speed-up {r['speedup']}× (steps after the first), {r['speedup_all_steps']}× over all steps.", "",
             "Held-out loss by label position (all; decoded: all but the prompt, the tokens greedy decoding predicts; "
             "prompt: the language, task and no-timestamps tokens, which decoding forces; first text token; other "
             "text tokens; end-of-text):", "",
             "| model | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    losses = {"before training": r["heldout_loss_before"], **{names[k]: r[k]["heldout_loss"] for k in sides}}
    rows += [f"| {name} | " + " | ".join(str(loss[k]) for k in kinds) + " |" for name, loss in losses.items()]
    return rows


def _decoding_table(d: dict) -> list[str]:
    rows = ["| side | seconds | clips/s | text tokens | WER | CER |", "|---|---|---|---|---|---|"]
    names = {"ours": f"ours: transcribe(), batch {d['batch_size']}, {d['precision_ours']}",
             "ours_bf16": f"ours: transcribe(), batch {d['batch_size']}, bf16",
             "ours_fp32": f"ours: transcribe(), batch {d['batch_size']}, fp32 (the pipeline's precision)",
             "pipeline": "pipeline(), one call per clip, fp32", "ct2_float32": "ctranslate2 float32",
             "ct2_int8": "ctranslate2 int8"}
    for side, s in d["sides"].items():
        rows.append(f"| {names.get(side, side)} | {s['seconds']} | {s['clips_per_s']} | {s['text_tokens']} | "
                    f"{s['wer']} | {s['cer']} |")
    return rows


def details_decoding(r: dict) -> list[str]:
    z = r["zero_shot"]
    rows = [f"Zero-shot {r['model']}, {z['clips']} embedded clips ({z['audio_seconds']} s of audio), greedy, "
            f"every side within the same reference-free token budget ({_budget(z)}).", "", *_decoding_table(z)]
    if "fine_tuned" in r:
        t = r["fine_tuned"]
        rows += ["", f"Fine-tuned (data/trained of this checkout), the {t['clips']} clips of data/split/test.parquet, "
                 f"token budget {_budget(t)}; ctranslate2 int8 is the same fine-tuned model converted by "
                 "ctranslate2's own converter.", "", *_decoding_table(t)]
    return rows


def _budget(d: dict) -> str:
    b = d["token_budget"]
    return f"{b['tokens_per_second']} tokens/s × duration × {b['margin']} + {b['extra_tokens']}, at most 444"


def details_e2e(r: dict) -> list[str]:
    rows = [f"`dvc repro` with default params: {r['dvc_repro_s']} s in all ({r['stage_bodies_s']} s in the stages' "
            f"bodies); clips train/validation/test {r['clips']['train']}/{r['clips']['validation']}/{r['clips']['test']}; "
            f"test WER {r['test_wer']} (zero-shot {r['zero_shot_test_wer']}).", "",
            "| stage | wall s | peak RSS GiB | children's peak GiB |", "|---|---|---|---|"]
    rows += [f"| {s} | {v['wall_s']} | {v['peak_rss_gib']} | {v['peak_rss_children_gib']} |" for s, v in r["stages"].items()]
    return rows


DETAILS = {"dvc": details_dvc, "data": details_data, "training": details_training, "decoding": details_decoding,
           "e2e": details_e2e}


def _minutes(results: dict) -> float:
    return round(sum(s.get("seconds", 0) for s in results["benchmarks"].values()) / 60, 1)


def markdown(results: dict, notes: str) -> str:
    m = results["machine"]
    pkgs = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/`; every number is in `bench/results.json`). Each ratio is measured side "
        "by side in one run on the same machine; the machine is shared, so absolute seconds are noisy (the load "
        "average during each benchmark is recorded).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores{cpu_kind(m)}, {m['ram_gib']} GiB RAM; "
        f"{m['os']}; Python {m['python']}; threads: {m['threads']}. Date {m['date']}, commit {m['commit']}. "
        f"The benchmarks took {_minutes(results)} min in all{' (--quick: tiny sizes, not for comparison)' if results['quick'] else ''}.",
        "",
        f"Packages: {pkgs}.",
        "",
        "## Goals",
        "",
        *goal_rows(results),
    ]
    for key, section in results["benchmarks"].items():
        lines += ["", f"## {TITLES.get(key, key)}", ""]
        if "error" in section:
            lines.append(f"Failed: `{section['error']}`")
            continue
        lines += DETAILS[key](section)
        lines += ["", f"Measured {section['measured_at']} in {section['seconds']} s; load average "
                  f"{section['load_avg_before'][0]} before, {section['load_avg_after'][0]} after."]
    lines += ["", NOTES_MARK, notes.rstrip("\n")]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(results: dict, json_path: Path, md_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    old = md_path.read_text() if md_path.exists() else ""
    notes = old.split(NOTES_MARK, 1)[1].lstrip("\n") if NOTES_MARK in old else ""
    md_path.write_text(markdown(results, notes))
