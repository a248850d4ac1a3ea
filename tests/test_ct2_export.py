"""The CTranslate2 export: the pipeline's ct2_export stage output loads in faster-whisper, and a
trained whisper-base converted the same way transcribes like the transformers export (WER within
0.01)."""

from __future__ import annotations

import json

import numpy as np

from azasr.audio import load_16k
from azasr.ct2_export import MANIFEST, export_ct2
from azasr.metrics import error_rates
from azasr.transcribe import CT2Engine, TransformersEngine, load_engine, transcribe_wave


def test_stage_output_loads_in_faster_whisper_as_int8_and_float32(reference_run):
    from faster_whisper import WhisperModel

    ct2 = reference_run / "artifacts" / "az_whisper_ct2"
    for name in ("model.bin", "config.json", "vocabulary.json", "tokenizer.json", "preprocessor_config.json", MANIFEST):
        assert (ct2 / name).is_file(), name
    manifest = json.loads((ct2 / MANIFEST).read_text())
    assert manifest["quantization"] == "int8" and manifest["token_budget"]["tokens_per_second"] > 0
    final = json.loads((reference_run / "artifacts" / "az_whisper_final" / "generation_config.json").read_text())
    assert manifest["max_new_tokens"] == final["max_new_tokens"]
    stats = json.loads((reference_run / "outputs" / "stages" / "ct2_export.json").read_text())
    assert stats["size_mb"] > 0
    audio = np.zeros(16_000, np.float32)
    for compute_type in ("int8", "float32"):
        model = WhisperModel(str(ct2), device="cpu", compute_type=compute_type)
        segments, _ = model.transcribe(audio, language="az", beam_size=1, without_timestamps=True,
                                       max_new_tokens=4, temperature=0.0, vad_filter=False)
        list(segments)  # decoding runs (a tiny random model's text means nothing)


def test_faster_whisper_matches_the_transformers_export(taught_whisper_base, tmp_path):
    """A trained whisper-base (conftest.taught_whisper_base: zero-shot whisper-base loops on this
    corpus, and a loop is no test of an export) converted as the ct2_export stage converts: at
    float32, faster-whisper's greedy transcripts of the clips it learnt (language az, no
    timestamps, the same token budgets) score within 0.01 WER of the transformers export's."""
    taught = taught_whisper_base
    ct2 = tmp_path / "ct2"
    export_ct2(taught.model_dir, ct2, quantization="float32")
    ours = load_engine("transformers", taught.model_dir, precision="fp32")
    theirs = load_engine("ct2", ct2, compute_type="float32")
    assert isinstance(ours, TransformersEngine) and isinstance(theirs, CT2Engine)
    assert theirs.budget == ours.budget
    waves = [load_16k(row["audio"]["bytes"]) for row in taught.clips]
    refs = list(taught.clips["text"])
    segments = {name: [transcribe_wave(engine, w) for w in waves] for name, engine in (("ours", ours), ("ct2", theirs))}
    hyps = {name: [" ".join(s.text for s in found) for found in clips] for name, clips in segments.items()}
    wers = {name: error_rates(refs, found)["wer"] for name, found in hyps.items()}
    print(f"\nWER on the taught clips, transformers / faster-whisper float32: {wers['ours']:.4f} / {wers['ct2']:.4f}")
    # The comparison means something only if the model transcribes: no loops, most words right.
    assert not any(s.runaway for clips in segments.values() for found in clips for s in found), hyps
    assert wers["ours"] < 0.5, (wers, hyps)
    assert abs(wers["ours"] - wers["ct2"]) <= 0.01, (wers, list(zip(hyps["ours"], hyps["ct2"])))
