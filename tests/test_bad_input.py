"""Bad input through the real stages (prepare → validate → split) in a throw-away copy of the repo.

Rows (tests/bad_corpus.py): every valid row reaches data/split with clean text and its measured
duration; every bad row is in the validation report with its exact reason. Files with a broken
schema stop prepare with one clear line, exit code 2, no traceback and no output touched.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from bad_corpus import ACCEPTED, MAX_AUDIO_BYTES, SCHEMA_CASES, write_corpus, write_schema_cases
from conftest import copy_repo, run_in

EXPERIMENT = "bad"
REPORT = f"outputs/{EXPERIMENT}_validation.json"


def set_params(repo: Path, source: Path, max_rejected_fraction: float = 0.9) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["source"] = str(source)
    params["validate"]["max_rejected_fraction"] = max_rejected_fraction
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The corpus through prepare, validate and split once; what they wrote, read back."""
    root = tmp_path_factory.mktemp("bad_input")
    cases = write_corpus(root / "corpus")
    repo = copy_repo(root / "repo", {
        "experiment": {"name": EXPERIMENT},
        "mode": {"sample": False},               # every row, no seeded sample
        "data": {"source": str(root / "corpus"), "shard_size": 8, "max_audio_bytes": MAX_AUDIO_BYTES},
        "validate": {"max_rejected_fraction": 0.9},
    })
    stderr = "".join(run_in(repo, "python", "-m", f"stages.{s}", timeout=300).stderr
                     for s in ("prepare", "validate", "split"))
    split = {}
    for name in ("train", "validation", "test"):
        for row in pq.read_table(repo / "data" / "split" / f"{name}.parquet").to_pylist():
            split[row["id"]] = row
    return {"root": root, "repo": repo, "cases": {f"{i:08d}": c for i, c in enumerate(cases)},
            "report": json.loads((repo / REPORT).read_text()), "split": split, "stderr": stderr}


def test_every_bad_row_is_rejected_with_its_reason(run):
    expected = {i: c.verdict for i, c in run["cases"].items() if c.verdict != ACCEPTED}
    got = {r["id"]: r["reason"] for r in run["report"]["rejected_rows"]}
    names = {i: run["cases"][i].name for i in expected.keys() | got.keys()}
    assert {names[i]: r for i, r in got.items()} == {names[i]: r for i, r in expected.items()}
    assert all(r["detail"] for r in run["report"]["rejected_rows"])


def test_counts_per_reason(run):
    cases = run["cases"].values()
    report = run["report"]
    assert report["total"] == len(cases)
    assert report["accepted"] == sum(c.verdict == ACCEPTED for c in cases)
    assert report["reasons"] == dict(Counter(c.verdict for c in cases if c.verdict != ACCEPTED))
    assert set(report["reasons"]) == {
        "missing_audio", "empty_audio", "undecodable_audio", "non_finite_samples", "audio_too_large",
        "digital_silence", "too_short", "too_long", "duration_mismatch", "empty_text", "too_many_tokens", "duplicate"}


def test_every_valid_row_reaches_the_split_cleaned(run):
    accepted = {i: c for i, c in run["cases"].items() if c.verdict == ACCEPTED}
    assert set(run["split"]) == set(accepted)
    for i, case in accepted.items():
        row = run["split"][i]
        assert row["text"] == case.text, case.name                       # NFC, control characters gone
        assert row["duration"] == pytest.approx(case.duration, abs=0.01), case.name   # measured, 16 kHz
        assert row["audio_file"] == case.row["audio_file"], case.name     # hostile paths kept as labels


def test_audio_comes_from_the_bytes_never_from_the_path(run):
    by_name = {c.name: i for i, c in run["cases"].items()}
    # The decoy on disk is 5 s; the row's bytes 1 s. A null-bytes row pointing at it is rejected.
    assert run["split"][by_name["path_to_local_file"]]["duration"] == pytest.approx(1.0, abs=0.01)
    assert run["split"][by_name["path_traversal"]]["audio"]["path"] == "../../etc/passwd"
    reasons = {r["id"]: r["reason"] for r in run["report"]["rejected_rows"]}
    assert reasons[by_name["null_bytes_local_path"]] == "missing_audio"


def test_report_is_reproducible_and_no_traceback(run):
    # Details must not embed run-specific values such as a BytesIO's memory address.
    assert not [r for r in run["report"]["rejected_rows"] if re.search(r"0x[0-9a-fA-F]{6,}", r["detail"])]
    assert "Traceback" not in run["stderr"]


@pytest.fixture(scope="module")
def schema_cases(run):
    return write_schema_cases(run["root"] / "schema")


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_broken_file_stops_prepare_with_one_clear_line(run, schema_cases, case):
    repo = run["repo"]
    directory, bad, fragments = schema_cases[case]
    set_params(repo, directory)
    before = snapshot(repo)
    result = run_in(repo, "python", "-m", "stages.prepare", check=False, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("[prepare] error: ") and str(bad) in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    # Nothing written, nothing removed: the shards of the earlier run are untouched, no temp files.
    assert snapshot(repo) == before


def test_too_many_rejections_fail_validate_but_write_the_report(run):
    repo = run["repo"]
    set_params(repo, run["root"] / "corpus", max_rejected_fraction=0.5)
    run_in(repo, "python", "-m", "stages.prepare", timeout=120)     # already complete: no work
    (repo / REPORT).unlink()
    result = run_in(repo, "python", "-m", "stages.validate", check=False, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    rejected = sum(c.verdict != ACCEPTED for c in run["cases"].values())
    assert len(errors) == 1 and errors[0].startswith("[validate] error: "), result.stderr
    assert f"{rejected} of {len(run['cases'])} rows rejected" in errors[0]
    assert "validate.max_rejected_fraction=50.0%" in errors[0]
    report = json.loads((repo / REPORT).read_text())
    assert report["rejected"] == rejected and report["limits"]["max_rejected_fraction"] == 0.5


def snapshot(repo: Path) -> dict[str, int]:
    """Every file under data/ (but the embedded corpus) and outputs/, with its mtime."""
    files = {}
    for top in ("data", "outputs"):
        for p in (repo / top).rglob("*"):
            if p.is_file() and "sample" not in p.relative_to(repo).parts[:2]:
                files[str(p.relative_to(repo))] = p.stat().st_mtime_ns
    return files
