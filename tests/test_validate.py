"""Every rejection reason, on rows built here, through prepare_row → validate_table."""

import numpy as np
import pyarrow as pa
import pytest

from azasr.prepare import PREPARED_SCHEMA, prepare_row
from azasr.validate import Limits, validate_table
from conftest import audio_bytes, tone

LIMITS = Limits(min_duration_s=0.3, max_duration_s=30.0, duration_tolerance_s=0.5,
                silence_peak_dbfs=-70.0, max_label_tokens=448, max_rejected_fraction=0.05)
GOOD = audio_bytes(tone(1.0))


def row(audio=GOOD, text="Salam, necəsən?", duration=1.0, path="a.flac"):
    return {"audio": None if audio is None else {"bytes": audio, "path": path}, "text": text,
            "duration": duration, "audio_file": path}


def check(rows, max_audio_bytes=1 << 25):
    prepared = [prepare_row((i, r), max_audio_bytes) for i, r in enumerate(rows)]
    accepted, rejected = validate_table(pa.Table.from_pylist(prepared, schema=PREPARED_SCHEMA), LIMITS, set())
    return accepted, {r["id"]: r["reason"] for r in rejected}


def float_wav(samples):
    return audio_bytes(samples, 16_000, "WAV", "FLOAT")


CASES = {
    "missing_audio": row(audio=None),
    "empty_audio": row(audio=b""),
    "undecodable_audio": row(audio=b"\x00\x01garbage" * 50),
    "non_finite_samples": row(audio=float_wav(np.where(np.arange(16_000) == 5, np.nan, tone(1.0)).astype(np.float32))),
    "digital_silence": row(audio=audio_bytes(np.zeros(16_000, np.float32))),
    "too_short": row(audio=audio_bytes(tone(0.1)), duration=0.1),
    "too_long": row(audio=audio_bytes(tone(31.0)), duration=31.0),
    "duration_mismatch": row(duration=9.0),
    "empty_text": row(text="  ?!  "),
    "too_many_tokens": row(text="Azərbaycan " * 300),
}


@pytest.mark.parametrize("reason", sorted(CASES))
def test_each_reason(reason):
    accepted, rejected = check([row(), CASES[reason]])
    assert rejected == {"00000001": reason}
    assert accepted.num_rows == 1 and accepted["id"].to_pylist() == ["00000000"]


def test_null_text_and_zero_sample_wav():
    _, rejected = check([row(text=None), row(audio=float_wav(np.zeros(0, np.float32)))])
    assert rejected == {"00000000": "empty_text", "00000001": "empty_audio"}


def test_audio_over_the_size_limit_is_refused():
    _, rejected = check([row()], max_audio_bytes=100)
    assert rejected == {"00000000": "audio_too_large"}


def test_exact_duplicate_is_rejected_but_same_text_other_audio_is_kept():
    other_voice = audio_bytes(tone(1.0, freq=220))
    accepted, rejected = check([row(), row(), row(audio=other_voice)])
    assert rejected == {"00000001": "duplicate"}
    assert accepted.num_rows == 2


def test_resampled_stereo_is_accepted_and_text_is_cleaned():
    stereo_44k = audio_bytes(tone(1.0, 44_100, channels=2), 44_100, "WAV")
    narrow_8k = audio_bytes(tone(1.0, 8_000), 8_000, "WAV")
    accepted, rejected = check([row(audio=stereo_44k, text="s\u0327ə\x07hər"), row(audio=narrow_8k, text="ikinci")])
    assert rejected == {}
    assert accepted["text"].to_pylist() == ["şəhər", "ikinci"]
    assert accepted["duration"].to_pylist() == pytest.approx([1.0, 1.0], abs=0.01)


def test_hostile_path_is_only_a_label():
    accepted, _ = check([row(path="../../../../etc/passwd")])
    assert accepted["audio_file"].to_pylist() == ["../../../../etc/passwd"]
