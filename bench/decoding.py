"""Decoding: the evaluate stage's batched greedy decoding (azasr.evaluate.transcribe) against
naive per-clip `pipeline("automatic-speech-recognition")` calls and against CTranslate2 greedy
decoding of the same whisper-base, on the same clips with the same max-new-token caps.

Caps: transcribe() decodes longest first in batches, each clip within the token budget of its
audio (decode.TokenBudget, measured on the embedded corpus); the pipeline gets each clip's budget,
CTranslate2 the largest budget of its batch (it takes one cap per batch). The sides take turns batch by batch, so load from other jobs falls on all alike. CTranslate2 4.8.5 stops at max_length // 2 new tokens (tests/test_model.py), so
it gets max_length = 2 * cap. Every side's time runs from audio bytes to text: decoding and
resampling, log-mel, generation, detokenizing; loading the model is not counted.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from .common import REPO, SAMPLE, WORK, fresh_dir, goal, log, module_main

MODEL = "openai/whisper-base"
CLIPS, BATCH = 48, 16  # zero-shot clips, clips per batch; fine-tuned: the whole test split, as evaluate decodes it
PROMPT = ["<|startoftranscript|>", "<|az|>", "<|transcribe|>", "<|notimestamps|>"]


def sample_clips(n: int, out: Path) -> Path:
    """`n` clips of the embedded corpus (seeded) as a split-like parquet: id, audio, text, duration."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(p) for p in sorted(SAMPLE.glob("*.parquet"))]).replace_schema_metadata(None)
    table = table.append_column("id", pa.array([f"{i:08d}" for i in range(table.num_rows)]))
    chosen = np.random.default_rng(1).permutation(table.num_rows)[:n]
    pq.write_table(table.take(chosen).select(["id", "audio", "text", "duration"]), out)
    return out


def corpus_budget():
    import pyarrow as pa
    import pyarrow.parquet as pq

    from azasr.decode import TokenBudget
    from azasr.tokens import text_token_counts

    table = pa.concat_tables([pq.read_table(p, columns=["text", "duration"]) for p in sorted(SAMPLE.glob("*.parquet"))])
    return TokenBudget.from_corpus(text_token_counts(table["text"].to_pylist()), table["duration"].to_pylist())


def plan_batches(dataset) -> list[list[int]]:
    """The batches transcribe() decodes: longest first (its own sort), BATCH clips at a time, as row
    indices of `dataset`; decoding each batch as its own sub-dataset gives the same batch and cap."""
    order = dataset.sort("duration", reverse=True)["id"]
    where = {clip: i for i, clip in enumerate(dataset["id"])}
    return [[where[c] for c in order[i:i + BATCH]] for i in range(0, len(order), BATCH)]


class Ours:
    """The evaluate stage's decoding: azasr.evaluate.transcribe (batched, capped, in the precision
    the stage would choose)."""

    def __init__(self, model_dir: str, precision: str):
        from azasr.model import load_model, resolve_model
        from azasr.precision import for_inference

        model, self.processor = load_model(resolve_model(model_dir))
        self.model = for_inference(model, precision)

    def __call__(self, batch, rows, budget) -> list[str]:
        from azasr.evaluate import transcribe

        out = transcribe(self.model, self.processor, batch, BATCH, budget, "ours")
        if out.ids != [r["id"] for r in rows]:
            raise RuntimeError("transcribe() decoded the batch in another order than planned")
        return out.hypotheses


class Pipeline:
    """Naive: one `pipeline("automatic-speech-recognition")` call per clip, fp32, greedy."""

    def __init__(self, export_dir: Path):
        from transformers import pipeline

        self.asr = pipeline("automatic-speech-recognition", model=str(export_dir), device=-1)

    def __call__(self, batch, rows, budget) -> list[str]:
        from azasr.audio import SAMPLE_RATE, load_16k

        waves = [load_16k(r["audio"]["bytes"]) for r in rows]
        return [self.asr({"raw": w, "sampling_rate": SAMPLE_RATE},
                         generate_kwargs={"max_new_tokens": budget.for_duration(len(w) / SAMPLE_RATE),
                                          "num_beams": 1, "do_sample": False})["text"].strip()
                for w in waves]


class CT2:
    """CTranslate2 greedy decoding of the original CT2 whisper-base, the same batches and caps."""

    def __init__(self, ct2_dir: Path, processor, compute_type: str, threads: int):
        import ctranslate2

        self.ct2 = ctranslate2
        self.model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type=compute_type,
                                                intra_threads=threads)
        self.processor = processor
        self.prompt = processor.tokenizer.convert_tokens_to_ids(PROMPT)

    def __call__(self, batch, rows, budget) -> list[str]:
        from azasr.audio import SAMPLE_RATE, load_16k

        waves = [load_16k(r["audio"]["bytes"]) for r in rows]
        cap = max(budget.for_duration(len(w) / SAMPLE_RATE) for w in waves)
        feats = self.processor.feature_extractor(waves, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
        results = self.model.generate(self.ct2.StorageView.from_array(np.ascontiguousarray(feats, dtype=np.float32)),
                                      [self.prompt] * len(rows), beam_size=1, max_length=2 * cap)
        return [self.processor.tokenizer.decode(r.sequences_ids[0], skip_special_tokens=True).strip() for r in results]


def convert_to_ct2(model_dir: str, out: Path) -> Path:
    """A trained transformers Whisper as a CTranslate2 model (its own converter), for the int8 side."""
    import ctranslate2

    ctranslate2.converters.TransformersConverter(model_dir).convert(str(out), force=True)
    return out


def compare(name: str, model_dir: str, clips_path: Path, work: Path, ct2_dir: Path | None,
            ct2_types: tuple[str, ...] = ("float32", "int8")) -> dict:
    """Every side on the clips in `clips_path`, batch by batch in turn (so that a change in the
    machine's load falls on every side alike); WER of each and its total time.

    `ours_fp32` is ours at the pipeline's precision: pipeline / ours_fp32 is what batching and
    early exit give apart from bf16 (the pipeline cannot run a bf16 encoder under an fp32 decoder:
    it hands the encoder's bf16 output to the fp32 decoder as is)."""
    import torch

    from azasr.data import load_split
    from azasr.decode import TokenBudget
    from azasr.metrics import error_rates
    from azasr.model import export_pretrained
    from azasr.precision import resolve_precision

    dataset = load_split(clips_path)
    precision = resolve_precision("auto", "cpu", inference=True)
    sides = {"ours": Ours(model_dir, precision),
             "pipeline": Pipeline(export_pretrained(model_dir, work / f"{name}-export").path)}
    if precision != "fp32":
        sides["ours_fp32"] = Ours(model_dir, "fp32")
    if precision != "bf16":  # for information: the whole model in bf16, the fastest choice
        sides["ours_bf16"] = Ours(model_dir, "bf16")
    if ct2_dir is not None:
        for compute_type in ct2_types:
            sides[f"ct2_{compute_type}"] = CT2(ct2_dir, sides["ours"].processor, compute_type, torch.get_num_threads())
    # The budget the pipeline would give: the model's own (fine-tuned), else measured on the embedded
    # corpus as fine-tuning would measure it on its training split.
    budget = TokenBudget.from_generation_config(sides["ours"].model.generation_config) or corpus_budget()
    plan = plan_batches(dataset)
    # Warm-up, not timed: one short clip through every side (first-call set-up, kernel creation).
    warm = dataset.select(plan[-1][-1:])
    for decode in sides.values():
        decode(warm, warm.to_list(), TokenBudget(tokens_per_second=0.1))
    seconds = {side: 0.0 for side in sides}
    hyps: dict[str, list[str]] = {side: [] for side in sides}
    refs, audio_s = [], 0.0
    for k, idx in enumerate(plan):
        batch = dataset.select(idx)
        rows = batch.sort("duration", reverse=True).to_list()
        refs += [r["text"] for r in rows]
        audio_s += sum(r["duration"] for r in rows)
        for side, decode in sides.items():
            start = time.perf_counter()
            hyps[side] += decode(batch, rows, budget)
            seconds[side] += time.perf_counter() - start
        log(f"decoding [{name}] batch {k + 1}/{len(plan)}: "
            + ", ".join(f"{side} {s:.0f} s" for side, s in seconds.items()))
    tokenizer = sides["ours"].processor.tokenizer
    result = {"clips": len(refs), "batch_size": BATCH, "token_budget": budget.as_dict(), "precision_ours": precision,
              "audio_seconds": round(audio_s, 2), "sides": {}}
    for side in sides:
        rates = error_rates(refs, hyps[side])
        tokens = sum(len(t) for t in tokenizer(hyps[side], add_special_tokens=False).input_ids)
        result["sides"][side] = {"seconds": round(seconds[side], 2), "clips_per_s": round(len(refs) / seconds[side], 3),
                                 "text_tokens": tokens, "wer": round(rates["wer"], 4), "cer": round(rates["cer"], 4)}
        log(f"decoding [{name}]: {side}: {seconds[side]:.1f} s, WER {rates['wer']:.4f}")
    result["examples"] = [{"reference": refs[i], **{side: hyps[side][i] for side in sides}}
                          for i in range(0, len(refs), max(1, len(refs) // 4))]
    return result


def _precision_info(result: dict, name: str) -> list[dict]:
    s = result["sides"]
    info = []
    if "ours_fp32" in s:
        ratio = s["pipeline"]["seconds"] / s["ours_fp32"]["seconds"]
        info.append(goal(f"decoding speed at equal precision (fp32), pipeline per clip / ours ({name}; batching and "
                         "early exit alone)", round(ratio, 2), "—", None, "×", wer=s["ours_fp32"]["wer"]))
    if "ours_bf16" in s:
        ratio = s["pipeline"]["seconds"] / s["ours_bf16"]["seconds"]
        info.append(goal(f"decoding speed, pipeline per clip / ours with evaluate.precision=bf16 ({name}; for "
                         "information)", round(ratio, 2), "—", None, "×", wer=s["ours_bf16"]["wer"]))
    if "ct2_int8" in s:
        ratio = s["ours"]["seconds"] / s["ct2_int8"]["seconds"]
        info.append(goal(f"decoding time, ours / ctranslate2 int8 ({name}; the practical reference)", round(ratio, 2),
                         "—", None, "×", wer=s["ct2_int8"]["wer"]))
    return info


def run(quick: bool) -> dict:
    from azasr.ct2 import assemble_ct2_dir

    work = fresh_dir(WORK / "decoding")
    clips = 4 if quick else CLIPS
    ct2_dir = assemble_ct2_dir(work / "ct2-whisper-base")
    zero = compare("zero-shot", MODEL, sample_clips(clips, work / "clips.parquet"), work, ct2_dir)
    result = {"model": MODEL, "zero_shot": zero}
    s = zero["sides"]
    vs_pipe = s["pipeline"]["seconds"] / s["ours"]["seconds"]
    vs_ct2 = s["ours"]["seconds"] / s["ct2_float32"]["seconds"]
    vs_int8 = s["ours"]["seconds"] / s["ct2_int8"]["seconds"]
    goals = [
        goal("decoding speed, pipeline per clip / ours (zero-shot whisper-base)", round(vs_pipe, 2), "≥ 4×",
             vs_pipe >= 4, "×"),
        goal("WER ours vs pipeline (zero-shot)", f"{s['ours']['wer']:.4f} vs {s['pipeline']['wer']:.4f}",
             "equal or better", s["ours"]["wer"] <= s["pipeline"]["wer"]),
        goal("decoding time, ours / ctranslate2 float32", round(vs_ct2, 2), "≤ 1.5×", vs_ct2 <= 1.5, "×"),
        goal("WER ours vs ctranslate2 float32", f"{s['ours']['wer']:.4f} vs {s['ct2_float32']['wer']:.4f}",
             "equal or better", s["ours"]["wer"] <= s["ct2_float32"]["wer"]),
        goal("decoding time, ours / ctranslate2 int8 (for information)", round(vs_int8, 2), "—", None, "×"),
        *[g for g in _precision_info(zero, "zero-shot") if "ctranslate2" not in g["name"]],
    ]
    trained = REPO / "data" / "trained"
    test = REPO / "data" / "split" / "test.parquet"
    if trained.is_dir() and test.is_file():
        local = work / "trained"
        shutil.copytree(trained, local)  # the main checkout's model, read once, never written
        shutil.copy2(test, work / "test-all.parquet")
        import pyarrow.parquet as pq

        test_split = pq.read_table(work / "test-all.parquet")
        pq.write_table(test_split.slice(0, 4) if quick else test_split, work / "test.parquet")
        tuned = compare("fine-tuned", str(local), work / "test.parquet", work,
                        convert_to_ct2(str(local), work / "trained-ct2"), ct2_types=("int8",))
        result["fine_tuned"] = tuned
        t = tuned["sides"]
        ratio = t["pipeline"]["seconds"] / t["ours"]["seconds"]
        goals += [
            goal("decoding speed, pipeline per clip / ours (fine-tuned, data/trained)", round(ratio, 2), "≥ 4×",
                 ratio >= 4, "×"),
            goal("WER ours vs pipeline (fine-tuned)", f"{t['ours']['wer']:.4f} vs {t['pipeline']['wer']:.4f}",
                 "equal or better", t["ours"]["wer"] <= t["pipeline"]["wer"]),
            *_precision_info(tuned, "fine-tuned"),
        ]
    result["goals"] = goals
    return result


if __name__ == "__main__":
    module_main(run)
