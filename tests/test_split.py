"""Grouping, ratios, stability and leakage of the split."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from azasr import PipelineError
from azasr.split import SPLITS, assign_splits, check_no_leakage, run_split
from azasr.validate import VALIDATED_SCHEMA

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def test_ratios_are_exact_and_seeded():
    texts = [f"cümlə {i}" for i in range(500)]
    names = assign_splits(texts, texts, RATIOS, seed=42)
    assert [names.count(s) for s in SPLITS] == [400, 50, 50]
    assert names == assign_splits(texts, texts, RATIOS, seed=42)
    assert names != assign_splits(texts, texts, RATIOS, seed=7)


def test_groups_are_never_cut():
    texts = [f"t{i // 3}" for i in range(300)]   # 100 transcripts, 3 clips each
    names = assign_splits(texts, [str(i) for i in range(300)], RATIOS, seed=3)
    for g in range(100):
        assert len(set(names[3 * g:3 * g + 3])) == 1
    assert abs(names.count("train") - 240) <= 3


def test_same_transcript_or_same_audio_stay_together():
    texts = ["bir", "bir", "iki", "üç", "dörd"] * 1 + [f"x{i}" for i in range(200)]
    audios = ["a1", "a2", "a2", "a3", "a3"] + [f"b{i}" for i in range(200)]
    names = assign_splits(texts, audios, RATIOS, seed=1)
    # bir–bir share text; a2 links "bir" to "iki"; a3 links "üç" and "dörd".
    assert len({names[0], names[1], names[2]}) == 1
    assert names[3] == names[4]


def test_assignment_does_not_depend_on_reading_order():
    texts = [f"t{i}" for i in range(300)]
    forward = dict(zip(texts, assign_splits(texts, texts, RATIOS, seed=42)))
    backward = dict(zip(texts[::-1], assign_splits(texts[::-1], texts[::-1], RATIOS, seed=42)))
    assert forward == backward


def test_leakage_is_detected():
    keys = pa.table({"id": ["1", "2"], "norm_text": ["eyni", "eyni"], "audio_sha256": ["a", "b"]})
    with pytest.raises(PipelineError, match="leakage"):
        check_no_leakage(keys, np.array([0, 2]))


def test_run_split_writes_disjoint_files(tmp_path):
    src = tmp_path / "validated"
    src.mkdir()
    rows = [{"id": f"{i:08d}", "audio": {"bytes": bytes([i % 256]) * 10, "path": f"{i}.flac"}, "text": f"Cümlə {i % 150}",
             "duration": 1.0, "audio_file": f"{i}.flac", "norm_text": f"cümlə {i % 150}", "audio_sha256": f"h{i}"}
            for i in range(600)]
    pq.write_table(pa.Table.from_pylist(rows[:300], schema=VALIDATED_SCHEMA), src / "part-00000.parquet")
    pq.write_table(pa.Table.from_pylist(rows[300:], schema=VALIDATED_SCHEMA), src / "part-00001.parquet")
    info = run_split(str(src), str(tmp_path / "split"), RATIOS, seed=42)
    seen = {}
    for name in SPLITS:
        table = pq.read_table(tmp_path / "split" / f"{name}.parquet")
        assert table.column_names == ["id", "audio", "text", "duration", "audio_file"]
        assert table.num_rows == info[name]["clips"]
        for text in table["text"].to_pylist():
            assert seen.setdefault(text, name) == name
    assert sum(info[s]["clips"] for s in SPLITS) == 600
    assert info["overlap"] == {"id": 0, "norm_text": 0, "audio_sha256": 0}
    assert not list((tmp_path / "split").glob(".*.tmp"))
