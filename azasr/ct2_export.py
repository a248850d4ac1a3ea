"""The export as a CTranslate2 model for faster-whisper (stage ct2_export): made with
CTranslate2's own converter (the Python API of `ct2-transformers-converter`), int8 weights by
default (CTranslate2 loads them as int8, float32 or float16: `compute_type`), with the tokenizer
and feature-extractor files faster-whisper reads beside model.bin.

The converter loads the export with transformers (safetensors, no remote code) and writes
model.bin, config.json (language ids, suppressed tokens, alignment heads from the generation
config) and vocabulary.json. `azasr_ct2.json` adds what CTranslate2's config has no place for:
the reference-free token budget (`azasr transcribe --engine ct2` uses it), the source weights'
hash and the converter's version.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from . import PipelineError
from .io import atomic_dir, write_json

MANIFEST = "azasr_ct2.json"
# What faster-whisper reads besides model.bin/config.json/vocabulary.json: the tokenizer (text
# from token ids) and the feature extractor's settings (mel bins, window).
COPIED_FILES = ("tokenizer.json", "preprocessor_config.json")
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "float16", "bfloat16", "float32")


def export_ct2(model_dir: str | Path, out_dir: str | Path, quantization: str = "int8") -> dict[str, Any]:
    """Convert a save_pretrained Whisper directory into `out_dir` (replaced atomically); returns
    the manifest written there."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter
    from transformers import GenerationConfig

    from .decode import TokenBudget
    from .model import check_model_dir, weights_sha256

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if quantization not in QUANTIZATIONS:
        raise PipelineError(f"quantization must be one of {', '.join(QUANTIZATIONS)}; got {quantization!r}")
    check_model_dir(model_dir)
    missing = [name for name in COPIED_FILES if not (model_dir / name).is_file()]
    if missing:
        raise PipelineError(f"{model_dir} lacks {', '.join(missing)}: faster-whisper needs them")
    budget = TokenBudget.from_generation_config(GenerationConfig.from_pretrained(model_dir))
    with atomic_dir(out_dir) as tmp:
        converter = TransformersConverter(str(model_dir), copy_files=list(COPIED_FILES),
                                          load_as_float16=False, low_cpu_mem_usage=False, trust_remote_code=False)
        # The converter writes into an empty directory of its own; `force` because atomic_dir made it.
        converter.convert(str(tmp), quantization=quantization, force=True)
        manifest = {
            "source_weights_sha256": weights_sha256(model_dir),
            "quantization": quantization,
            "converter": f"ctranslate2 {ctranslate2.__version__} TransformersConverter",
            "token_budget": budget.as_dict() if budget else None,
            "max_new_tokens": budget.for_window() if budget else None,
            "language": "az",
            "task": "transcribe",
        }
        write_json(tmp / MANIFEST, manifest)
        for name in ("README.md",):  # the model card travels with the deployable copy too
            if (model_dir / name).is_file():
                shutil.copyfile(model_dir / name, tmp / name)
    return manifest


def directory_bytes(path: str | Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
