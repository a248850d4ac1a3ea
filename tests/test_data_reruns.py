"""Data stages are a function of content (issue 12.1, 12.2): two clones in different folders with
different mtimes record identical hashes for every data output, and `dvc repro` reruns prepare and
what follows exactly when the files behind data.source change."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import copy_repo, run_in
from synthetic_corpus import write_mirror

DATA_STAGES = ("source", "prepare", "validate", "split")
PARAMS = {"experiment": {"name": "clone"}, "mode": {"sample": False},
          "data": {"source": "corpus", "shard_size": 8, "workers": 1}}


def lock_outs(repo) -> dict[str, dict[str, str]]:
    """The md5 dvc.lock records for each output of the data stages, but their timing metrics."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {s: {o["path"]: o["md5"] for o in lock[s]["outs"] if not o["path"].startswith("outputs/stages/")}
            for s in DATA_STAGES}


@pytest.fixture(scope="module")
def clones(tmp_path_factory):
    repos = []
    for name, mtime in (("first", 1_600_000_000), ("second-clone", 1_750_000_000)):
        repo = copy_repo(tmp_path_factory.mktemp(name) / "repo", PARAMS)
        write_mirror(repo / "corpus", clips=24, shard_rows=12, seed=3)
        for path in [repo, *repo.rglob("*")]:
            os.utime(path, (mtime, mtime), follow_symlinks=False)
        run_in(repo, "dvc", "repro", "split")
        repos.append(repo)
    return repos


def test_two_clones_record_identical_hashes_for_the_data_outputs(clones):
    first, second = clones
    assert lock_outs(first) == lock_outs(second)
    for out in ("prepared", "validated"):
        assert (first / "data" / out / "_progress.json").read_bytes() == \
            (second / "data" / out / "_progress.json").read_bytes()


def test_unchanged_source_skips_and_changed_source_reruns(clones):
    repo = clones[0]
    before = lock_outs(repo)
    again = run_in(repo, "dvc", "repro", "split")
    assert "Running stage 'source'" in again.stdout                   # the probe always runs...
    assert "Running stage 'prepare'" not in again.stdout, again.stdout  # ...and changes nothing
    assert lock_outs(repo) == before

    # A corrected transcript in one source file: prepare and everything after it rerun.
    shard = sorted((repo / "corpus").glob("*.parquet"))[1]
    table = pq.read_table(shard)
    texts = table["text"].to_pylist()
    texts[0] = "Düzəldilmiş cümlə."
    pq.write_table(table.set_column(1, "text", pa.array(texts)), shard)
    changed = run_in(repo, "dvc", "repro", "split")
    for stage in ("prepare", "validate", "split"):
        assert f"Running stage '{stage}'" in changed.stdout, changed.stdout
    after = lock_outs(repo)
    assert all(after[s] != before[s] for s in DATA_STAGES)
    validated = pq.read_table(repo / "data" / "validated", columns=["text"])["text"].to_pylist()
    assert "Düzəldilmiş cümlə." in validated


@pytest.mark.slow
def test_corrected_transcripts_under_the_same_ids_train_afresh(reference_run, tiny_mirror, tmp_path):
    """Checkpoints are reused only for the same content: the reference run's corpus with every
    transcript corrected under the same ids and audio trains from scratch (its own steps, not a
    resume from the old run's final checkpoint) and exports another model."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(reference_run, repo, symlinks=True)
    corrected = tmp_path / "corrected"
    corrected.mkdir()
    for shard in sorted(tiny_mirror.glob("*.parquet")):
        table = pq.read_table(shard)
        texts = [f"{t.rstrip('.')} düzəliş." for t in table["text"].to_pylist()]
        pq.write_table(table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts)),
                       corrected / shard.name)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["source"] = str(corrected)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    assert list((repo / "data" / "checkpoints").glob("checkpoint-*")), "the old run's checkpoints are there"

    log = run_in(repo, "dvc", "repro", "export")
    assert "Running stage 'train'" in log.stdout
    assert "resuming from" not in log.stderr + log.stdout
    trained = yaml.safe_load((repo / "data" / "trained" / "training_summary.json").read_text())
    reference = yaml.safe_load((reference_run / "data" / "trained" / "training_summary.json").read_text())
    assert trained["global_steps"] == reference["global_steps"] > 0
    model = "artifacts/az_whisper_final/model.safetensors"
    assert (repo / model).read_bytes() != (reference_run / model).read_bytes()
