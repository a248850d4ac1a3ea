"""Seed stage 13: load the exported model exactly as a user would, with
`pipeline("automatic-speech-recognition", model=...)`, and transcribe test clips and a WAV file.

Each call passes the clip's token budget from the model's own generation config (the rule the
evaluate stage decodes with, from the audio alone), so these transcripts are what evaluate scored;
a plain call gets the budget of a full 30-s window, which differs only for runaway hypotheses."""

import time

import soundfile as sf

from azasr.audio import SAMPLE_RATE, load_16k
from azasr.data import load_split
from azasr.decode import TokenBudget
from azasr.io import atomic_path, write_json
from azasr.metrics import clip_wer
from azasr.stage import experiment_path, run_stage


def main(params):
    from transformers import pipeline

    model_dir = experiment_path(params, "artifacts", "final")
    asr = pipeline("automatic-speech-recognition", model=str(model_dir), device=-1)
    budget = TokenBudget.from_generation_config(asr.model.generation_config)

    def transcribe(waveform) -> str:
        budgeted = {"max_new_tokens": budget.for_duration(len(waveform) / SAMPLE_RATE)}
        return asr({"raw": waveform, "sampling_rate": SAMPLE_RATE}, generate_kwargs=budgeted)["text"].strip()

    test = load_split("data/split/test.parquet")
    clips = test.select(range(min(params["inference"]["clips"], len(test))))

    results, audio_s, compute_s = [], 0.0, 0.0
    for row in clips:
        waveform = load_16k(row["audio"]["bytes"])
        start = time.perf_counter()
        text = transcribe(waveform)
        elapsed = time.perf_counter() - start
        audio_s, compute_s = audio_s + row["duration"], compute_s + elapsed
        results.append({"id": row["id"], "duration": round(row["duration"], 3), "reference": row["text"],
                        "hypothesis": text, "wer": round(clip_wer(row["text"], text), 4), "seconds": round(elapsed, 3)})

    # A WAV file on disk at 44.1 kHz stereo, read the way the model card shows (soundfile + soxr),
    # so the down-mixing and resampling a user's file needs are exercised too.
    wav_path = experiment_path(params, "outputs", "inference_sample.wav")
    first = clips[0]
    waveform = load_16k(first["audio"]["bytes"])
    with atomic_path(wav_path) as tmp:
        stereo = _to_44k_stereo(waveform)
        sf.write(tmp, stereo, 44_100, format="WAV", subtype="PCM_16")
    info = sf.info(wav_path)
    start = time.perf_counter()
    audio = load_16k(wav_path.read_bytes())  # soundfile decode, down-mix, soxr resample
    wav_text = transcribe(audio)
    wav_seconds = time.perf_counter() - start

    write_json(experiment_path(params, "outputs", "inference_test.json"), {
        "model": str(model_dir),
        "loaded_with": 'transformers.pipeline("automatic-speech-recognition", model=...)',
        "clips": results,
        "wav_file": {"path": str(wav_path), "sampling_rate": info.samplerate, "channels": info.channels,
                     "reference": first["text"], "hypothesis": wav_text, "seconds": round(wav_seconds, 3)},
        "audio_seconds": round(audio_s, 3),
        "compute_seconds": round(compute_s, 3),
        "real_time_factor": round(compute_s / audio_s, 4) if audio_s else None,
    })
    return {"real_time_factor": round(compute_s / audio_s, 4) if audio_s else None}


def _to_44k_stereo(waveform):
    import numpy as np
    import soxr

    resampled = soxr.resample(waveform, SAMPLE_RATE, 44_100, quality="HQ")
    return np.stack([resampled, resampled], axis=1)


if __name__ == "__main__":
    run_stage("inference", main)
