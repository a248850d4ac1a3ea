"""Installable: the package metadata declares the runtime dependencies (torch without a build
pin) and the `azasr` entry point runs."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import azasr

RUNTIME = {"torch", "transformers", "huggingface-hub", "safetensors", "tokenizers", "soundfile", "soxr", "numpy",
           "tqdm", "pyyaml", "ctranslate2", "faster-whisper", "dvc", "pydantic", "jiwer"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_installed_metadata_lists_the_runtime_dependencies():
    requires = metadata.requires("azasr") or []
    names = {_name(r) for r in requires}
    assert RUNTIME <= names, sorted(RUNTIME - names)
    torch = next(r for r in requires if _name(r) == "torch")
    assert "+" not in torch and "==" not in torch, torch  # no CPU/CUDA build forced
    assert metadata.version("azasr") == azasr.__version__


def test_console_script_help_and_version():
    script = Path(sys.executable).with_name("azasr")
    assert script.is_file(), "the editable install provides the azasr command"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"azasr {azasr.__version__}"
    helped = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0
    for command in ("transcribe", "push", "pretrained", "download"):
        assert command in helped.stdout
