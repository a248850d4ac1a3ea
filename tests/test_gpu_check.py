"""`make gpu-check` (bench/gpu_check.py) as a CPU dry run with the tiny model, from a bundle as
`make gpu-check-bundle` lays it out (config and processor files, the corpus as a zip): every
training variant and both decoders run, the JSON and the BENCHMARKS.md section are written, and
none of the packages an air-gapped GPU box lacks is imported."""

import json
import subprocess
import sys

import pytest

from bench.gpu_check import SECTION_END, SECTION_START, write_section
from conftest import REPO


def gpu_check(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.gpu_check", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_dry_run_from_a_bundle_covers_every_variant_and_writes_its_report(tmp_path):
    bundle = tmp_path / "bundle"
    exported = gpu_check("--export-bundle", str(bundle), "--model", "tiny")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (bundle / "whisper-tiny" / "config.json").is_file() and (bundle / "corpus.zip").is_file()
    assert not list(bundle.rglob("*.safetensors"))  # config only: the check initialises weights itself

    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n\nEarlier sections.\n")
    out = tmp_path / "gpu.json"
    run = gpu_check("--dry-run", "--bundle", str(bundle), "--out", str(out), "--benchmarks", str(benchmarks))
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())

    assert result["dry_run"] and result["imported_but_not_on_the_gpu_box"] == []
    measured = [v for v in result["training"] if "skipped" not in v]
    assert {(v["precision"], v["torch_compile"]) for v in measured} == {("fp32", False), ("bf16", False), ("bf16", True)}
    assert all(v["clips_per_s"] > 0 and v["label_tokens_per_s"] > 0 and v["model_tflops_per_s"] > 0 for v in measured)
    assert [v["skipped"] for v in result["training"] if "skipped" in v] == ["fp16 needs CUDA"]
    decoding = result["decoding"]
    assert decoding["greedy_loop_rtf"] > 0 and decoding["generate_rtf"] > 0
    assert decoding["batches_with_identical_tokens"] == "1/1"
    assert result["full_mode_epoch_estimate"]["one_epoch_h"] > 0

    text = benchmarks.read_text()
    assert text.startswith("# Benchmarks\n\nEarlier sections.")
    assert "| 2 × 2 | bf16 | on |" in text and "skipped: fp16 needs CUDA" in text
    write_section(benchmarks, "replaced")  # a later run replaces the section, it does not add one
    text = benchmarks.read_text()
    assert text.count("<!-- gpu-check:start -->") == 1 and text.count("## GPU self-check") == 1
    assert "replaced" in text and "skipped: fp16 needs CUDA" not in text


def test_the_repository_benchmarks_file_has_the_section_a_gpu_run_replaces():
    text = (REPO / "BENCHMARKS.md").read_text()
    assert text.count(SECTION_START) == 1 and text.count(SECTION_END) == 1


def test_without_a_gpu_the_full_check_says_so_in_one_line():
    run = gpu_check("--bundle", "/nonexistent", timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("gpu-check: no CUDA GPU visible")
