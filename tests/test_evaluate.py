"""Batched decoding (encoder in micro-batches, greedy generation within a token budget from the
audio alone) and inference precision."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from azasr import PipelineError, precision
from azasr.audio import SAMPLE_RATE, load_16k
from azasr.data import load_split
from azasr.decode import TokenBudget, greedy_decode
from azasr.evaluate import CPU_ENCODER_BATCH, transcribe
from azasr.model import load_model, resolve_model

BUDGET = TokenBudget(tokens_per_second=4.0)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Ten embedded clips as a split parquet (id, audio, text, duration)."""
    table = pq.read_table(sorted(SAMPLE.glob("*.parquet"))[0]).slice(0, 10).replace_schema_metadata(None)
    table = table.append_column("id", pa.array([f"clip{i}" for i in range(table.num_rows)]))
    path = tmp_path_factory.mktemp("clips") / "test.parquet"
    pq.write_table(table.select(["id", "audio", "text", "duration"]), path)
    return load_split(path)


def _features(processor, batch):
    waves = [load_16k(a["bytes"]) for a in batch["audio"]]
    features = processor.feature_extractor(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    return waves, features


@torch.inference_mode()
def test_transcribe_matches_plain_generate_clip_by_clip(clips):
    """Encoding a few windows at a time and decoding the batch at once, each clip within its own
    budget, gives what generate() gives each clip alone with that budget as max_new_tokens."""
    model, processor = load_model(resolve_model("tiny-random-whisper"))
    batch_size = CPU_ENCODER_BATCH + 2  # one full encoder micro-batch and a partial one
    result = transcribe(model, processor, clips, batch_size, BUDGET, "test")

    ordered = clips.sort("duration", reverse=True)
    assert result.ids == ordered["id"]
    waves, features = _features(processor, ordered)
    expected = []
    for wave, feature in zip(waves, features):
        tokens = model.generate(feature[None], max_new_tokens=BUDGET.for_duration(len(wave) / SAMPLE_RATE),
                                num_beams=1, do_sample=False)
        expected += [t.strip() for t in processor.tokenizer.batch_decode(tokens, skip_special_tokens=True)]
    assert result.hypotheses == expected
    assert result.references == ordered["text"]
    # The random model never ends a transcript: every clip is stopped by its budget and counted.
    assert all(result.runaway)


@torch.inference_mode()
def test_hypotheses_do_not_depend_on_references(clips):
    """Replace every reference with one word: not one hypothesis changes (the budget comes from
    the audio), only the scores do."""
    model, processor = load_model(resolve_model("tiny-random-whisper"))
    one_word = clips.map(lambda row: {"text": "söz"})
    ours = transcribe(model, processor, clips, 4, BUDGET, "test")
    blind = transcribe(model, processor, one_word, 4, BUDGET, "test")
    assert blind.hypotheses == ours.hypotheses and blind.runaway == ours.runaway
    assert set(blind.references) == {"söz"}


def test_token_budget_from_the_audio_within_whispers_positions():
    budget = TokenBudget.from_corpus([20, 10], [2.0, 5.0])     # the densest clip: 10 tokens/s
    assert budget.tokens_per_second == 10.0
    assert budget.for_duration(2.0) == 25 + 8                  # 10 × 1.25 × 2 s + 8
    assert budget.for_duration(600.0) == budget.for_window() == 383  # a window holds 30 s at most
    assert TokenBudget(tokens_per_second=100.0).for_window() == 444  # 448 positions minus the prompt


def test_token_budget_travels_in_the_generation_config(tmp_path):
    from transformers import GenerationConfig

    config = GenerationConfig(max_length=448)
    BUDGET.apply_to(config)
    config.save_pretrained(tmp_path)
    loaded = GenerationConfig.from_pretrained(tmp_path)
    assert TokenBudget.from_generation_config(loaded) == BUDGET
    assert loaded.max_new_tokens == BUDGET.for_window() and loaded.max_length is None
    assert TokenBudget.from_generation_config(GenerationConfig()) is None


@torch.inference_mode()
def test_greedy_decode_equals_generate_as_clips_leave_the_batch(clips):
    """whisper-base on clips whose transcripts end at different steps: dropping finished rows
    from the batch and the cache leaves every row's tokens as generate() makes them."""
    model, processor = load_model(resolve_model("openai/whisper-base"))
    batch = clips.sort("duration")[:6]
    waves, features = _features(processor, batch)
    cap = 120
    ours = greedy_decode(model, model.get_encoder()(features).last_hidden_state, [cap] * len(waves))
    reference = model.generate(features, max_new_tokens=cap, num_beams=1, do_sample=False)

    eos = model.generation_config.eos_token_id
    tokens = ours.tokens
    assert tokens[:, :4].tolist() == [processor.tokenizer.prefix_tokens] * len(waves)
    generated = [[t for t in row if t != eos] for row in tokens[:, 4:].tolist()]
    assert len({len(row) for row in generated}) > 1  # rows did leave the batch at different steps
    assert processor.tokenizer.batch_decode(tokens, skip_special_tokens=True) == \
        processor.tokenizer.batch_decode(reference, skip_special_tokens=True)
    assert generated == [[t for t in row if t not in processor.tokenizer.all_special_ids] for row in reference.tolist()]
    assert not ours.runaway.any()  # every row ended with its end token


@pytest.mark.parametrize("choice, encoder_dtype, decoder_dtype", [
    ("bf16", torch.bfloat16, torch.bfloat16), (precision.BF16_ENCODER, torch.bfloat16, torch.float32)])
def test_transcribe_runs_in_the_models_dtypes(clips, choice, encoder_dtype, decoder_dtype):
    model, processor = load_model(resolve_model("tiny-random-whisper"))
    model = precision.for_inference(model, choice)
    assert {p.dtype for p in model.get_encoder().parameters()} == {encoder_dtype}
    assert {p.dtype for p in model.get_decoder().parameters()} == {decoder_dtype}
    result = transcribe(model, processor, clips.select(range(3)), 2, BUDGET, "test")
    assert len(result.hypotheses) == 3


@pytest.mark.parametrize("kind", ["amx", "avx512_bf16"])
def test_auto_precision_on_cpu(monkeypatch, kind):
    monkeypatch.setattr(precision, "cpu_bf16", lambda: kind)
    assert precision.resolve_precision("auto", "cpu") == "bf16"                  # training: autocast
    assert precision.resolve_precision("auto", "cpu", inference=True) == precision.BF16_ENCODER
    monkeypatch.setattr(precision, "cpu_bf16", lambda: None)
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    assert precision.resolve_precision("auto", "cpu", inference=True) == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"


@pytest.mark.parametrize("value", ["fp8", "half", precision.BF16_ENCODER])
def test_unknown_precision_is_a_clear_error(value):
    with pytest.raises(PipelineError, match="precision must be"):
        precision.resolve_precision(value, "cpu")  # bf16-encoder is for inference only


def test_fp16_needs_cuda():
    with pytest.raises(PipelineError, match="needs a CUDA GPU"):
        precision.resolve_precision("fp16", "cpu", inference=True)
