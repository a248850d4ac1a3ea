"""`make repro` installs the CUDA lock where `nvidia-smi -L` lists a GPU and the CPU lock elsewhere;
TORCH=cpu|cuda overrides. Checked with `make -n` (nothing runs, nothing is downloaded) and a fake
nvidia-smi first on PATH."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GPU = 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5c6f1e2a-0000-0000-0000-000000000000)"'
NO_DRIVER = 'echo "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver."; exit 9'


def planned_lock(tmp_path: Path, nvidia_smi: str | None, *overrides: str) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if nvidia_smi is not None:
        fake = bin_dir / "nvidia-smi"
        fake.write_text(f"#!/bin/sh\n{nvidia_smi}\n")
        fake.chmod(0o755)
    # PATH without any real nvidia-smi: only the fake one, and the tools make needs.
    env = {k: v for k, v in os.environ.items() if k not in ("TORCH", "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin"
    return subprocess.run(["make", "-n", "-B", "repro", *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def locks_installed(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return re.findall(r"--require-hashes --no-deps -r (\S+)", result.stdout)


@pytest.mark.parametrize("nvidia_smi, overrides, expected", [
    (GPU, (), "requirements-cuda.lock"),
    (None, (), "requirements.lock"),
    (NO_DRIVER, (), "requirements.lock"),
    (GPU, ("TORCH=cpu",), "requirements.lock"),
    (None, ("TORCH=cuda",), "requirements-cuda.lock"),
])
def test_make_repro_picks_the_torch_build(tmp_path, nvidia_smi, overrides, expected):
    result = planned_lock(tmp_path, nvidia_smi, *overrides)
    assert locks_installed(result) == [expected]
    build = "cuda" if expected == "requirements-cuda.lock" else "cpu"
    assert f"touch .venv/.torch-{build}" in result.stdout


def test_unknown_torch_build_is_one_clear_line(tmp_path):
    result = planned_lock(tmp_path, None, "TORCH=rocm")
    assert result.returncode != 0
    assert "TORCH must be cpu or cuda, not 'rocm'" in result.stderr and "Traceback" not in result.stderr


def test_cuda_lock_differs_from_the_cpu_lock_only_by_torch_and_its_cuda_libraries():
    def pins(name):
        return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", (REPO / name).read_text(), re.M))

    cpu, cuda = pins("requirements.lock"), pins("requirements-cuda.lock")
    assert cpu["torch"].endswith("+cpu") and cuda["torch"] == cpu["torch"].removesuffix("+cpu")
    assert {k: v for k, v in cuda.items() if k in cpu and k != "torch"} == {k: v for k, v in cpu.items() if k != "torch"}
    extra = set(cuda) - set(cpu)
    assert extra and all(re.match(r"(nvidia-|cuda-|triton$)", name) for name in extra), extra
    assert all(line.count("--hash=sha256:") == 1 for line in (REPO / "requirements-cuda.lock").read_text().split(" \\\n")[1:])
