"""Long recordings and the CTranslate2 export (issue 14): which long-form strategy `azasr
transcribe` uses, and faster-whisper int8/float32 beside our decoder.

    python -m bench.longform                       # the pipeline's export if there is one, else whisper-base zero-shot
    python -m bench.longform --model artifacts/az_whisper_final --ct2 artifacts/az_whisper_ct2

Recordings of ≥ 60 s are built from test clips (data/split/test.parquet, else the embedded corpus)
joined with pauses; each is transcribed whole by
- `segments`: ours, cut at pauses into ≤ 30-s segments, batched greedy decoding (azasr.transcribe);
- `pipeline-chunked`: transformers `pipeline(chunk_length_s=30)` with its default 5-s strides;
- `pipeline-sequential`: Whisper's sequential long-form generation (`pipeline(return_timestamps=True)`
  on the whole recording, no chunking);
- `ct2-int8` / `ct2-float32`: faster-whisper on our segments;
and compared with the per-clip WER of the same clips (each clip decoded alone by our decoder).
Every side gets the model's token budget (generation_config.max_new_tokens per window for
pipeline()). Results: bench/work/longform.json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from .common import REPO, WORK, load_avg, log

PAUSE_S = 0.8
MIN_RECORDING_S = 60.0


def clips(limit: int) -> tuple[list[dict], str]:
    import pyarrow.parquet as pq

    split = REPO / "data" / "split" / "test.parquet"
    if split.is_file():
        table, source = pq.read_table(split), "data/split/test.parquet"
    else:
        table, source = pq.read_table(sorted((REPO / "data" / "sample").glob("*.parquet"))[-1]), "embedded corpus (data/sample)"
    rows = table.slice(0, limit).to_pylist()
    return [{"audio": r["audio"]["bytes"], "text": r["text"]} for r in rows], source


def build_recordings(rows: list[dict], count: int) -> list[dict]:
    from azasr.audio import SAMPLE_RATE, load_16k

    pause = np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)
    recordings, current, texts, waves = [], [], [], []
    for row in rows:
        wave = load_16k(row["audio"])
        current += [wave, pause]
        texts.append(row["text"])
        waves.append(wave)
        if sum(len(p) for p in current) >= MIN_RECORDING_S * SAMPLE_RATE:
            recordings.append({"wave": np.concatenate(current), "text": " ".join(texts), "clips": waves, "refs": texts})
            current, texts, waves = [], [], []
            if len(recordings) == count:
                break
    return recordings


def model_dirs(args) -> tuple[Path, str]:
    if args.model:
        return Path(args.model), "given"
    final = REPO / "artifacts" / "az_whisper_final"
    if final.is_dir():
        return final, "fine-tuned (artifacts/az_whisper_final)"
    from azasr.model import export_pretrained

    from transformers import GenerationConfig

    from azasr.decode import TokenBudget

    out = WORK / "longform" / "whisper_base"
    if not (out / "config.json").is_file():
        export_pretrained("openai/whisper-base", out)
        # The budget rule the zero_shot stage gives the base model: measured on training clips
        # (the first shard of the embedded corpus; the recordings come from the last).
        budget = TokenBudget.of_split(sorted((REPO / "data" / "sample").glob("*.parquet"))[0])
        generation = GenerationConfig.from_pretrained(out)
        budget.apply_to(generation)
        generation.save_pretrained(out)
    return out, "openai/whisper-base zero-shot (no fine-tuned export here), token budget of the embedded corpus"


def ct2_dir(model: Path, quantization: str, given: str | None) -> Path:
    from azasr.ct2_export import export_ct2

    if given and quantization == "int8":
        return Path(given)
    out = WORK / "longform" / f"ct2_{quantization}_{model.name}"
    export_ct2(model, out, quantization)
    return out


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.longform", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="transformers export (default: artifacts/az_whisper_final, else whisper-base)")
    parser.add_argument("--ct2", help="CTranslate2 int8 export (default: converted here from --model)")
    parser.add_argument("--recordings", type=int, default=2, help="recordings of ≥ 60 s (default 2)")
    parser.add_argument("--skip", default="", help="comma-separated sides to leave out: ours, pipeline-chunked, "
                                                   "pipeline-sequential, ct2-int8, ct2-float32")
    parser.add_argument("--out", type=Path, default=WORK / "longform.json")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from azasr.audio import SAMPLE_RATE
    from azasr.metrics import error_rates
    from azasr.transcribe import load_engine, transcribe_wave

    hf_logging.disable_progress_bar()
    model, what = model_dirs(args)
    rows, source = clips(200)
    recordings = build_recordings(rows, args.recordings)
    audio_s = sum(len(r["wave"]) for r in recordings) / SAMPLE_RATE
    refs = [r["text"] for r in recordings]
    log(f"{what}: {len(recordings)} recordings, {audio_s:.1f} s, from {source}")
    engine = load_engine("transformers", model, precision="fp32")
    results: dict[str, dict] = {}

    def record(name: str, seconds: float, hyps: list[str], rec_refs: list[str], seconds_of_audio: float, **extra):
        rates = error_rates(rec_refs, hyps)
        results[name] = {"wer": round(rates["wer"], 4), "cer": round(rates["cer"], 4), "seconds": round(seconds, 2),
                         "rtf": round(seconds / seconds_of_audio, 4), **extra}
        log(f"{name}: WER {rates['wer']:.4f} CER {rates['cer']:.4f} RTF {seconds / seconds_of_audio:.3f}")

    clip_waves = [w for r in recordings for w in r["clips"]]
    clip_refs = [t for r in recordings for t in r["refs"]]
    clip_audio_s = sum(len(w) for w in clip_waves) / SAMPLE_RATE
    if "ours" not in skip:
        seconds, decoded = timed(lambda: engine.decode(clip_waves, 8))
        record("per-clip (ours, fp32)", seconds, [t for t, _ in decoded], clip_refs, clip_audio_s,
               runaway=sum(r for _, r in decoded))
        seconds, segs = timed(lambda: [transcribe_wave(engine, r["wave"]) for r in recordings])
        record("segments (ours, fp32)", seconds, [" ".join(s.text for s in ss) for ss in segs], refs, audio_s,
               segments=sum(len(ss) for ss in segs), runaway=sum(s.runaway for ss in segs for s in ss))

    asr = pipeline("automatic-speech-recognition", model=str(model), device=-1)
    cap = asr.model.generation_config.max_new_tokens
    if "pipeline-chunked" not in skip:
        seconds, out = timed(lambda: [asr({"raw": r["wave"], "sampling_rate": SAMPLE_RATE}, chunk_length_s=30,
                                          batch_size=8, generate_kwargs={"max_new_tokens": cap}) for r in recordings])
        record("pipeline-chunked (chunk_length_s=30, stride 5 s)", seconds, [o["text"] for o in out], refs, audio_s)
    if "pipeline-sequential" not in skip:
        def sequential():
            texts = []
            for r in recordings:
                try:
                    texts.append(asr({"raw": r["wave"], "sampling_rate": SAMPLE_RATE}, return_timestamps=True,
                                     generate_kwargs={"max_new_tokens": cap, "condition_on_prev_tokens": False})["text"])
                except Exception as exc:  # noqa: BLE001  a strategy that fails is a result too
                    log(f"sequential long-form failed: {type(exc).__name__}: {str(exc)[:200]}")
                    texts.append("")
            return texts
        seconds, out = timed(sequential)
        record("pipeline-sequential (long-form generation, timestamps)", seconds, out, refs, audio_s)
    del asr

    for quantization in ("int8", "float32"):
        name = f"ct2-{quantization}"
        if name in skip:
            continue
        path = ct2_dir(model, quantization, args.ct2)
        ct2 = load_engine("ct2", path, compute_type=quantization)
        seconds, decoded = timed(lambda: ct2.decode(clip_waves, 8))
        record(f"per-clip (faster-whisper {quantization})", seconds, [t for t, _ in decoded], clip_refs, clip_audio_s,
               runaway=sum(r for _, r in decoded))
        seconds, segs = timed(lambda: [transcribe_wave(ct2, r["wave"]) for r in recordings])
        record(f"segments (faster-whisper {quantization})", seconds, [" ".join(s.text for s in ss) for ss in segs],
               refs, audio_s)
        from azasr.ct2_export import directory_bytes
        results[f"per-clip (faster-whisper {quantization})"]["size_mb"] = round(directory_bytes(path) / 1e6, 1)
    from azasr.ct2_export import directory_bytes
    if "per-clip (ours, fp32)" in results:
        results["per-clip (ours, fp32)"]["size_mb"] = round(directory_bytes(model) / 1e6, 1)

    summary = {"model": what, "clips_from": source, "recordings": len(recordings), "audio_s": round(audio_s, 1),
               "recording_s": [round(len(r["wave"]) / SAMPLE_RATE, 1) for r in recordings], "clips": len(clip_waves),
               "threads": os.environ.get("OMP_NUM_THREADS", "library default"), "load_avg": load_avg(),
               "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    print(f"\n{what}; {len(recordings)} recordings ({', '.join(map(str, summary['recording_s']))} s) of "
          f"{len(clip_waves)} clips from {source}; load average {summary['load_avg']}\n")
    print("| side | WER | CER | seconds | RTF | notes |\n|---|---|---|---|---|---|")
    for name, r in results.items():
        notes = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("wer", "cer", "seconds", "rtf"))
        print(f"| {name} | {r['wer']:.4f} | {r['cer']:.4f} | {r['seconds']} | {r['rtf']} | {notes} |")


if __name__ == "__main__":
    main()
