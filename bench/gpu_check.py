"""GPU self-check (`make gpu-check`): what full-mode training and decoding cost on this GPU.

A randomly initialised whisper-small (its config only: throughput and memory do not depend on the
weights) is trained on the embedded corpus with the train stage's packing collator and precision
choice, in a few variants: bf16 and fp16, torch.compile off and on, the stage's batch size and a
larger one. Each reports clips/s, label tokens/s, audio seconds/s, an MFU estimate and peak GPU
memory. Decoding compares the evaluate stage's greedy loop with `generate()` (real-time factor,
same tokens). It writes bench/gpu.json and the GPU section of BENCHMARKS.md, with an estimate of
one full-mode epoch (LocalDoc/azerbaijani_asr, 334 h).

Built for an air-gapped CUDA box whose Python has torch (any 2.x), transformers and accelerate and
nothing else: it imports only those, numpy, soundfile and soxr (wheels that `make gpu-check-bundle`
gathers), and the azasr modules for audio, batches, decoding and precision. gpu-check-bundle/ also
carries whisper-small's config and processor files and the embedded corpus repacked as a zip
(without it, both are built here from the pipeline's own packages and pyarrow).

    python -m bench.gpu_check                 # on a CUDA GPU, ~5 min on an H100
    python -m bench.gpu_check --dry-run       # CPU, tiny model, a few steps: checks the code paths
    python -m bench.gpu_check --export-bundle DIR [--model small|tiny]   # config, processor, corpus.zip
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
BUNDLE = REPO / "gpu-check-bundle"
BENCHMARKS = REPO / "BENCHMARKS.md"
CORPUS_ZIP = "corpus.zip"
SECTION_START, SECTION_END = "<!-- gpu-check:start -->", "<!-- gpu-check:end -->"
# Packages the pipeline uses elsewhere that must stay out of this check's imports (the air-gapped
# box does not have them; pyarrow only where no corpus.zip was carried); tests/test_gpu_check.py
# holds the check to it.
NOT_ON_THE_GPU_BOX = ("dvc", "dvclive", "datasets", "pandas", "matplotlib", "jiwer", "ctranslate2", "evaluate",
                      "pyarrow")

SPECS = {
    "small": {"d_model": 768, "encoder_layers": 12, "decoder_layers": 12, "encoder_heads": 12, "decoder_heads": 12,
              "encoder_ffn": 3072, "decoder_ffn": 3072, "num_mel_bins": 80, "max_source_positions": 1500,
              "max_target_positions": 448},
}
# The full corpus (NOTES: LocalDoc/azerbaijani_asr) and full mode's schedule (params.yaml presets.full).
FULL_CORPUS = {"clips": 351_019, "audio_hours": 334.0, "epochs": 3}
STAGE_BATCH, STAGE_ACCUMULATION, STAGE_EVAL_BATCH = 8, 2, 16
# Dense bf16/fp16 tensor-core peak, TFLOP/s (vendor data sheets, SXM parts where there are two).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "L40S": 362.0, "L40": 181.0,
               "L4": 121.0, "A10": 125.0, "A6000": 155.0, "4090": 165.0, "3090": 71.0, "V100": 125.0, "T4": 65.0}


def spec(model: str) -> dict:
    if model == "tiny":
        from azasr.model import TINY_SPEC

        return TINY_SPEC
    return SPECS[model]


def export_config(directory: Path, model: str) -> Path:
    """config.json, generation_config.json, tokenizer and feature extractor of a Whisper of this
    size with the pipeline's vocabulary and Azerbaijani prompt; no weights. Needs the pipeline's
    Whisper packages (tokenizer), so run it where `make` installed the venv."""
    from azasr import ct2

    tokenizer = ct2.build_tokenizer()
    tokens = ct2.special_token_config(tokenizer, ct2.load_ct2_config())
    config = ct2.whisper_config(**spec(model), tokens=tokens)
    config.architectures = ["WhisperForConditionalGeneration"]
    directory.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(directory)
    ct2.generation_config(tokens).save_pretrained(directory)
    ct2.save_processor(directory, tokenizer)
    return directory


def config_dir(model: str, bundle: Path) -> Path:
    carried = bundle / f"whisper-{model}"
    if (carried / "config.json").is_file():
        return carried
    try:
        return export_config(Path(tempfile.mkdtemp(prefix="gpu-check-")) / f"whisper-{model}", model)
    except ImportError as exc:
        sys.exit(f"gpu-check: no {carried} and cannot build it here ({exc}); run `make gpu-check-bundle` "
                 "where the project's venv is installed and bring gpu-check-bundle/ along")


def random_model(directory: Path, device: str):
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig.from_pretrained(directory))
    model.generation_config = GenerationConfig.from_pretrained(directory)
    model.generation_config.language, model.generation_config.task = "az", "transcribe"
    model.generation_config.forced_decoder_ids = None
    return model.to(device)


def load_corpus(bundle: Path) -> list[dict]:
    """The embedded corpus's rows (audio bytes, text, duration): from the bundle's corpus.zip where
    there is one (no pyarrow needed), else from the parquet shards."""
    packed = bundle / CORPUS_ZIP
    if packed.is_file():
        with zipfile.ZipFile(packed) as archive:
            index = json.loads(archive.read("index.json"))
            return [{"audio": {"bytes": archive.read(row["file"])}, "text": row["text"], "duration": row["duration"]}
                    for row in index]
    import pyarrow.parquet as pq

    rows = []
    for shard in sorted(SAMPLE.glob("train-*.parquet")):
        rows += pq.read_table(shard, columns=["audio", "text", "duration"]).to_pylist()
    if not rows:
        sys.exit(f"gpu-check: no embedded corpus in {SAMPLE}")
    return rows


def export_corpus(path: Path) -> Path:
    """The embedded corpus's clips (FLAC, as stored) with an index of texts and durations, in a
    zip that the standard library reads: the GPU box then needs no pyarrow (55 MB)."""
    rows = load_corpus(Path("/nonexistent"))
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        index = []
        for i, row in enumerate(rows):
            name = f"clips/{i:05d}.flac"
            archive.writestr(name, row["audio"]["bytes"])
            index.append({"file": name, "text": row["text"], "duration": row["duration"]})
        archive.writestr("index.json", json.dumps(index, ensure_ascii=False))
    os.replace(tmp, path)
    return path


def export_bundle(directory: Path, model: str) -> Path:
    export_config(directory / f"whisper-{model}", model)
    export_corpus(directory / CORPUS_ZIP)
    return directory


def batches(rows: list[dict], collator, batch_size: int, count: int, seed: int = 0) -> list[dict]:
    """`count` training batches, collated once up front so the GPU timing excludes audio decoding
    (measured on its own: `collate_clips_per_s_per_core`)."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(rows))
    out = []
    for i in range(count):
        picked = [rows[j] for j in np.take(order, range(i * batch_size, (i + 1) * batch_size), mode="wrap")]
        out.append({**collator(picked), "audio_seconds": sum(r["duration"] for r in picked)})
    return out


def parameter_counts(model) -> dict[str, int]:
    """Parameters that do matrix work per position: encoder (convolutions and layers) and decoder
    layers plus the output projection (tied to the embedding, which as a lookup costs nothing)."""
    def count(module, skip=()):
        return sum(p.numel() for name, p in module.named_parameters() if not any(s in name for s in skip))

    whisper = model.model
    return {"encoder": count(whisper.encoder, ("embed_positions",)),
            "decoder": count(whisper.decoder, ("embed_positions", "embed_tokens")) + model.proj_out.weight.numel()}


def step_flops(params: dict[str, int], config, windows: int, decoder_rows: int, decoder_len: int) -> float:
    """Training FLOPs of one micro-batch (forward + backward = 3x forward): 2 per parameter and
    position for the matrix products, plus attention scores and weighted sums."""
    frames, d = config.max_source_positions, config.d_model
    forward = (2 * params["encoder"] * windows * frames + 2 * params["decoder"] * decoder_rows * decoder_len
               + 4 * d * config.encoder_layers * windows * frames ** 2
               + 4 * d * config.decoder_layers * decoder_rows * (decoder_len ** 2 + decoder_len * frames))
    return 3.0 * forward


def peak_tflops(device_name: str) -> float | None:
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if key in device_name:
            return PEAK_TFLOPS[key]
    return None


def train_variant(directory: Path, pool: list[dict], *, device: str, precision: str, compile_mode: str | None,
                  steps: int, warmup: int, accumulation: int) -> dict:
    import torch

    from azasr.precision import DTYPES

    model = random_model(directory, device)
    model.config.use_cache = False
    model.train()
    params = parameter_counts(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, **({"fused": True} if device == "cuda" else {}))
    scaler = _grad_scaler(torch, device, enabled=precision == "fp16")
    forward = torch.compile(model, backend=compile_mode) if compile_mode else model
    autocast = torch.autocast(device, dtype=DTYPES[precision], enabled=precision != "fp32")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    totals = {"clips": 0, "tokens": 0, "audio_s": 0.0, "flops": 0.0}
    compile_s, start = None, None
    first = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            sync()
            start = time.perf_counter()
            compile_s = round(start - first, 2)
        batch = pool[i % len(pool)]
        inputs = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in ("input_features", "labels")}
        with autocast:
            loss = forward(**inputs).loss / accumulation
        scaler.scale(loss).backward()
        if (i + 1) % accumulation == 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
        if i >= warmup:
            labels = batch["labels"]
            totals["clips"] += int(batch["num_clips"])
            totals["tokens"] += int((labels != -100).sum())
            totals["audio_s"] += float(batch["audio_seconds"])
            totals["flops"] += step_flops(params, model.config, labels.shape[0], labels.shape[0], labels.shape[1])
    sync()
    seconds = time.perf_counter() - start
    peak = peak_tflops(torch.cuda.get_device_name()) if device == "cuda" else None
    achieved = totals["flops"] / seconds
    result = {
        "precision": precision, "torch_compile": compile_mode is not None, "micro_batches": steps,
        "warmup_and_compile_s": compile_s, "seconds": round(seconds, 3),
        "clips_per_s": round(totals["clips"] / seconds, 2), "label_tokens_per_s": round(totals["tokens"] / seconds, 1),
        "audio_s_per_s": round(totals["audio_s"] / seconds, 1), "model_tflops_per_s": float(f"{achieved / 1e12:.3g}"),
        "mfu": round(achieved / (peak * 1e12), 4) if peak and precision != "fp32" else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "final_loss": round(float(loss.detach()) * accumulation, 4),
    }
    del model, forward, optimizer
    if device == "cuda":
        torch.cuda.empty_cache()
    return result


def _grad_scaler(torch, device: str, enabled: bool):
    """fp16 loss scaling; torch.amp.GradScaler arrived in torch 2.3, older 2.x has the CUDA one."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled and device == "cuda")


def decode_compare(directory: Path, rows: list[dict], processor, *, device: str, precision: str,
                   clips: int, max_new_tokens: int | None) -> dict:
    """Real-time factor of the evaluate stage's greedy loop against generate(), same batches
    (STAGE_EVAL_BATCH clips, longest first), the same token budget from the audio (each batch at
    its longest clip's budget, as generate() takes one cap per batch). A random model rarely says
    end-of-text, so both run to the cap: the per-token cost of the longest case."""
    import torch

    from azasr.collate import SpeechCollator
    from azasr.decode import TokenBudget, greedy_decode
    from azasr.precision import for_inference

    model = for_inference(random_model(directory, device).eval(), precision)
    dtype = next(model.get_encoder().parameters()).dtype
    collator = SpeechCollator(processor, pack=False)
    texts = processor.tokenizer([r["text"] for r in rows], add_special_tokens=False).input_ids
    budget = TokenBudget.from_corpus([len(ids) for ids in texts], [r["duration"] for r in rows])
    chosen = sorted(rows[:clips], key=lambda r: -r["duration"])
    groups = [chosen[i:i + STAGE_EVAL_BATCH] for i in range(0, len(chosen), STAGE_EVAL_BATCH)]
    prepared = []
    for group in groups:
        batch = collator(group)
        cap = max(budget.for_duration(r["duration"]) for r in group)
        prepared.append((batch["input_features"].to(device, dtype), min(cap, max_new_tokens or cap)))
    audio_s = sum(r["duration"] for r in chosen)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run(method):
        outputs = []
        with torch.inference_mode():
            method(*prepared[0])  # warm-up (kernels, allocator)
            sync()
            start = time.perf_counter()
            for features, cap in prepared:
                outputs.append(method(features, cap))
            sync()
        return time.perf_counter() - start, outputs

    def greedy(features, cap):
        hidden = model.get_encoder()(features).last_hidden_state
        return greedy_decode(model, hidden, [cap] * len(features)).tokens

    def generate(features, cap):
        return model.generate(features, max_new_tokens=cap, num_beams=1, do_sample=False)

    eos = model.generation_config.eos_token_id
    greedy_s, greedy_out = run(greedy)
    generate_s, generate_out = run(generate)
    same = sum(_text_tokens(a, eos) == _text_tokens(b, eos) for a, b in zip(greedy_out, generate_out))
    return {"precision": precision, "clips": len(chosen), "audio_s": round(audio_s, 1),
            "greedy_loop_rtf": round(greedy_s / audio_s, 5), "generate_rtf": round(generate_s / audio_s, 5),
            "faster": "greedy_loop" if greedy_s <= generate_s else "generate",
            "batches_with_identical_tokens": f"{same}/{len(prepared)}"}


def _text_tokens(tokens, eos: int) -> list[list[int]]:
    """Each row's text tokens: Whisper's special tokens (prompt, end-of-text, timestamps) all have
    ids from end-of-text up, and generate() and the greedy loop place them differently."""
    return [[t for t in row if t < eos] for row in tokens.tolist()]


def collate_rate(rows: list[dict], collator, batch_size: int, count: int) -> float:
    start = time.perf_counter()
    batches(rows, collator, batch_size, count, seed=1)
    return round(count * batch_size / (time.perf_counter() - start), 1)


def epoch_estimate(variant: dict) -> dict:
    hours = FULL_CORPUS["audio_hours"] * 3600 / variant["audio_s_per_s"] / 3600
    return {"variant": f"{variant['precision']}, compile {'on' if variant['torch_compile'] else 'off'}",
            "one_epoch_h": round(hours, 2), "full_schedule_h": round(hours * FULL_CORPUS["epochs"], 2),
            "basis": "audio seconds per second of training on the embedded corpus, scaled to 334 h; "
                     "excludes validation passes and data loading (see collate_clips_per_s_per_core)"}


def environment(device: str) -> dict:
    import torch
    import transformers

    info = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "device": device, "cpu_threads": torch.get_num_threads()}
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                    bf16_supported=torch.cuda.is_bf16_supported(), peak_tflops_bf16=peak_tflops(props.name))
    return info


def markdown(result: dict) -> str:
    env, lines = result["environment"], []
    lines += [f"Measured by `make gpu-check` ({'CPU dry run, tiny model: code paths only' if result['dry_run'] else 'whisper-small, random init'}) "
              f"on {env.get('gpu', 'CPU')}, torch {env['torch']}, transformers {env['transformers']}. "
              f"Training: packed batches of the embedded corpus, collated up front; "
              f"decoding: {result['decoding']['clips']} clips, batches of {STAGE_EVAL_BATCH}.", "",
              "| batch × accumulation | precision | torch.compile | clips/s | label tokens/s | audio s/s | MFU | peak GPU GiB | warm-up + compile s |",
              "|---|---|---|---|---|---|---|---|---|"]
    for v in result["training"]:
        if "skipped" in v:
            lines.append(f"| {v['batch_size']} × {v['accumulation']} | {v['precision']} | {'on' if v['torch_compile'] else 'off'} | skipped: {v['skipped']} | | | | | |")
            continue
        mfu = f"{100 * v['mfu']:.1f} %" if v["mfu"] is not None else "—"
        memory = v["peak_memory_gib"] if v["peak_memory_gib"] is not None else "—"
        lines.append(f"| {v['batch_size']} × {v['accumulation']} | {v['precision']} | {'on' if v['torch_compile'] else 'off'} "
                     f"| {v['clips_per_s']} | {v['label_tokens_per_s']} | {v['audio_s_per_s']} | {mfu} | {memory} "
                     f"| {v['warmup_and_compile_s']} |")
    d = result["decoding"]
    est = result["full_mode_epoch_estimate"]
    lines += ["", f"Decoding ({d['precision']}): the evaluate stage's greedy loop RTF {d['greedy_loop_rtf']}, "
                  f"`generate()` RTF {d['generate_rtf']}; faster: {d['faster']}; identical tokens in "
                  f"{d['batches_with_identical_tokens']} batches.",
              f"Data loading: {result['collate_clips_per_s_per_core']} clips/s per CPU core (decode, pack, log-mel).",
              f"Full mode estimate ({est['variant']}, the stage's batch): one epoch of 334 h ≈ {est['one_epoch_h']} h, "
              f"the 3-epoch schedule ≈ {est['full_schedule_h']} h ({est['basis']}).",
              "", "Figures: `bench/gpu.json`."]
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    """Replace the GPU self-check section of BENCHMARKS.md (between its markers), atomically."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{SECTION_START}\n{body}\n{SECTION_END}"
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        text = head + block + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## GPU self-check (`make gpu-check`)\n\n" + block + "\n"
    _atomic_write(path, text)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny model, a few steps: checks the code paths")
    parser.add_argument("--model", choices=["small", "tiny"], default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed micro-batches per training variant")
    parser.add_argument("--bundle", type=Path, default=BUNDLE, help="folder with whisper-<model>/ config files")
    parser.add_argument("--out", type=Path, default=None, help="JSON result (default bench/gpu.json)")
    parser.add_argument("--benchmarks", type=Path, default=None, help="Markdown file whose GPU section is replaced")
    parser.add_argument("--export-bundle", type=Path, default=None, metavar="DIR",
                        help="write whisper-<model>/ (config and processor files) and corpus.zip to DIR and stop")
    args = parser.parse_args(argv)
    model_name = args.model or ("tiny" if args.dry_run else "small")
    if args.export_bundle:
        print(export_bundle(args.export_bundle, model_name))
        return

    import torch

    from azasr.collate import SpeechCollator

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.dry_run:
        sys.exit(f"gpu-check: no CUDA GPU visible to torch {torch.__version__}; "
                 "`python -m bench.gpu_check --dry-run` checks the code paths on the CPU")
    out = args.out or (REPO / "bench" / ("work/gpu-dry-run.json" if args.dry_run else "gpu.json"))
    benchmarks = args.benchmarks or (None if args.dry_run else BENCHMARKS)
    steps = args.steps or (2 if args.dry_run else 300)
    warmup = 1 if args.dry_run else 20

    from transformers import WhisperProcessor

    directory = config_dir(model_name, args.bundle)
    processor = WhisperProcessor.from_pretrained(directory, local_files_only=True)
    processor.tokenizer.set_prefix_tokens(language="az", task="transcribe", predict_timestamps=False)
    rows = load_corpus(args.bundle)
    collator = SpeechCollator(processor, pack=True)
    compile_backend = "eager" if args.dry_run else "inductor"  # the dry run checks the wrapping, not the compiler
    half = "bf16" if device == "cpu" or torch.cuda.is_bf16_supported() else "fp16"
    plan = [  # (batch size, precision, compile)
        (STAGE_BATCH, half, False), (STAGE_BATCH, "fp16", False), (STAGE_BATCH, half, True),
        (4 * STAGE_BATCH, half, False), (4 * STAGE_BATCH, half, True),
    ]
    if args.dry_run:
        plan = [(2, "fp32", False), (2, "bf16", False), (2, "fp16", False), (2, "bf16", True)]
    pools: dict[int, list] = {}
    training = []
    for batch_size, precision, compiled in plan:
        record = {"batch_size": batch_size, "accumulation": STAGE_ACCUMULATION, "precision": precision, "torch_compile": compiled}
        if precision == "fp16" and device != "cuda":
            training.append({**record, "skipped": "fp16 needs CUDA"})
            continue
        if batch_size not in pools:
            pools[batch_size] = batches(rows, collator, batch_size, min(steps + warmup, 64))
        print(f"[gpu-check] training: batch {batch_size}, {precision}, compile {'on' if compiled else 'off'}", file=sys.stderr, flush=True)
        try:
            training.append({**record, **train_variant(directory, pools[batch_size], device=device, precision=precision,
                                                       compile_mode=compile_backend if compiled else None, steps=steps,
                                                       warmup=warmup, accumulation=STAGE_ACCUMULATION)})
        except torch.cuda.OutOfMemoryError as exc:  # a larger batch that does not fit is a finding, not a failure
            training.append({**record, "skipped": f"out of GPU memory ({str(exc).splitlines()[0][:120]})"})
            torch.cuda.empty_cache()
    measured = [v for v in training if "skipped" not in v]
    stage_like = next(v for v in measured if v["batch_size"] == plan[0][0] and not v["torch_compile"])
    print("[gpu-check] decoding", file=sys.stderr, flush=True)
    decoding = decode_compare(directory, rows, processor, device=device, precision="fp32" if device == "cpu" else half,
                              clips=4 if args.dry_run else 256, max_new_tokens=8 if args.dry_run else None)
    result = {
        "dry_run": args.dry_run, "model": f"whisper-{model_name} (random init)", "environment": environment(device),
        "training": training, "decoding": decoding,
        "collate_clips_per_s_per_core": collate_rate(rows, collator, STAGE_BATCH, 1 if args.dry_run else 16),
        "full_mode_epoch_estimate": epoch_estimate(stage_like),
        "imported_but_not_on_the_gpu_box": sorted(m for m in NOT_ON_THE_GPU_BOX if m in sys.modules),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out, json.dumps(result, indent=1) + "\n")
    if benchmarks:
        write_section(benchmarks, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
