"""Installable: the package metadata declares the runtime dependencies (torch without a build
pin) and the `azasr` entry point runs."""

from __future__ import annotations

import re
import shutil
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


def test_pip_install_dot_in_a_fresh_venv_gives_a_working_command(tmp_path):
    """`pip install .` (a real, non-editable install) into a fresh venv. The registries are not at
    hand in the suite, so the fresh venv sees this venv's packages through a .pth line, and pip
    must find every declared dependency already there (`pip check`)."""
    import site
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    fresh_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    assert ours in site.getsitepackages()
    # This venv's packages (pip included) but not its editable azasr, which points at the work tree.
    (Path(fresh_site) / "base.pth").write_text(ours + "\n")
    env = {"PATH": "/usr/bin:/bin", "PIP_NO_INDEX": "1", "PYTHONNOUSERSITE": "1"}
    # The source tree as a user gets it; pip builds inside it (build/, *.egg-info), so not the work tree.
    repo, source = Path(__file__).resolve().parents[1], tmp_path / "source"
    shutil.copytree(repo / "azasr", source / "azasr", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo / name, source / name)
    built = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps",
                            str(source)],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    checked = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    where = subprocess.run([str(python), "-c", "import azasr; print(azasr.__file__)"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, check=True).stdout.strip()
    assert where.startswith(fresh_site), where  # the installed copy, not the work tree
    script = venv / "bin" / "azasr"
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"azasr {azasr.__version__}", version.stderr
