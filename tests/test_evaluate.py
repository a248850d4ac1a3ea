"""Batched decoding (encoder in micro-batches, capped greedy generation) and inference precision."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from azasr import PipelineError, precision
from azasr.audio import SAMPLE_RATE, load_16k
from azasr.data import load_split
from azasr.decode import greedy_decode, token_cap
from azasr.evaluate import CPU_ENCODER_BATCH, transcribe
from azasr.model import load_model, resolve_model
from azasr.tokens import label_lengths

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Ten embedded clips as a split parquet (id, audio, text, duration)."""
    table = pq.read_table(sorted(SAMPLE.glob("*.parquet"))[0]).slice(0, 10).replace_schema_metadata(None)
    table = table.append_column("id", pa.array([f"clip{i}" for i in range(table.num_rows)]))
    path = tmp_path_factory.mktemp("clips") / "test.parquet"
    pq.write_table(table.select(["id", "audio", "text", "duration"]), path)
    return load_split(path)


@torch.inference_mode()
def test_transcribe_matches_plain_generate_per_batch(clips):
    """Encoding a few windows at a time and decoding the batch at once changes no token."""
    model, processor = load_model(resolve_model("tiny-random-whisper"))
    batch_size = CPU_ENCODER_BATCH + 2  # one full encoder micro-batch and a partial one
    result = transcribe(model, processor, clips, batch_size, "test")

    ordered = clips.sort("duration", reverse=True)
    assert result.ids == ordered["id"]
    expected = []
    for begin in range(0, len(ordered), batch_size):
        batch = ordered[begin:begin + batch_size]
        waves = [load_16k(a["bytes"]) for a in batch["audio"]]
        features = processor.feature_extractor(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        tokens = model.generate(features, max_new_tokens=token_cap(label_lengths(batch["text"])), num_beams=1, do_sample=False)
        expected += [t.strip() for t in processor.tokenizer.batch_decode(tokens, skip_special_tokens=True)]
    assert result.hypotheses == expected
    assert result.references == ordered["text"]


@torch.inference_mode()
def test_greedy_decode_equals_generate_as_clips_leave_the_batch(clips):
    """whisper-base on clips whose transcripts end at different steps: dropping finished rows
    from the batch and the cache leaves every row's tokens as generate() makes them."""
    model, processor = load_model(resolve_model("openai/whisper-base"))
    batch = clips.sort("duration")[:6]
    waves = [load_16k(a["bytes"]) for a in batch["audio"]]
    features = processor.feature_extractor(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    cap = token_cap(label_lengths(batch["text"]))
    ours = greedy_decode(model, model.get_encoder()(features).last_hidden_state, cap)
    reference = model.generate(features, max_new_tokens=cap, num_beams=1, do_sample=False)

    eos = model.generation_config.eos_token_id
    assert ours[:, :4].tolist() == [processor.tokenizer.prefix_tokens] * len(waves)
    generated = [[t for t in row if t != eos] for row in ours[:, 4:].tolist()]
    assert len({len(row) for row in generated}) > 1  # rows did leave the batch at different steps
    assert processor.tokenizer.batch_decode(ours, skip_special_tokens=True) == \
        processor.tokenizer.batch_decode(reference, skip_special_tokens=True)
    assert generated == [[t for t in row if t not in processor.tokenizer.all_special_ids] for row in reference.tolist()]


@pytest.mark.parametrize("choice, encoder_dtype, decoder_dtype", [
    ("bf16", torch.bfloat16, torch.bfloat16), (precision.BF16_ENCODER, torch.bfloat16, torch.float32)])
def test_transcribe_runs_in_the_models_dtypes(clips, choice, encoder_dtype, decoder_dtype):
    model, processor = load_model(resolve_model("tiny-random-whisper"))
    model = precision.for_inference(model, choice)
    assert {p.dtype for p in model.get_encoder().parameters()} == {encoder_dtype}
    assert {p.dtype for p in model.get_decoder().parameters()} == {decoder_dtype}
    result = transcribe(model, processor, clips.select(range(3)), 2, "test")
    assert len(result.hypotheses) == 3


def test_auto_precision_on_cpu(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_has_amx", lambda: True)
    assert precision.resolve_precision("auto", "cpu") == "fp32"                  # training: reproducible
    assert precision.resolve_precision("auto", "cpu", inference=True) == precision.BF16_ENCODER  # AMX
    monkeypatch.setattr(precision, "_cpu_has_amx", lambda: False)
    assert precision.resolve_precision("auto", "cpu", inference=True) == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"


@pytest.mark.parametrize("value", ["fp8", "half", precision.BF16_ENCODER])
def test_unknown_precision_is_a_clear_error(value):
    with pytest.raises(PipelineError, match="precision must be"):
        precision.resolve_precision(value, "cpu")  # bf16-encoder is for inference only


def test_fp16_needs_cuda():
    with pytest.raises(PipelineError, match="needs a CUDA GPU"):
        precision.resolve_precision("fp16", "cpu", inference=True)
