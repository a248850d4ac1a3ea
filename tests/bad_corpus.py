"""A corpus of bad input, with the verdict the pipeline must reach for each row.

    python tests/bad_corpus.py OUT_DIR

writes
  OUT_DIR/rows/part-00{0,1,2}.parquet   rows in the corpus layout (azasr.data.CORPUS_SCHEMA), valid
                                        ones mixed with every kind of bad row; use as data.source
                                        with data.max_audio_bytes = MAX_AUDIO_BYTES
  OUT_DIR/rows/expected.json            row id → case name, verdict ("accepted" or the rejection
                                        reason), and for accepted rows the stored text and duration
  OUT_DIR/rows/decoy.flac               a local file that hostile audio paths point at: the
                                        pipeline reads audio from the bytes only, never opens it
  OUT_DIR/schema/<case>/                a valid file and a broken one (a_good.parquet,
                                        b_bad.parquet): prepare must stop with one clear line

Row ids are the position in the source (files sorted by name), as azasr.data.row_id writes them.
The audio is speech-like: a gliding voiced source with harmonics, syllable envelope and breath
noise, seeded per row so that no two clips are the same.
"""

from __future__ import annotations

import io
import json
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

MAX_AUDIO_BYTES = 600_000   # data.max_audio_bytes for this corpus: every clip but one fits
ACCEPTED = "accepted"
CORPUS_SCHEMA = pa.schema([
    ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    ("text", pa.string()), ("duration", pa.float64()), ("audio_file", pa.string()),
])


@dataclass(frozen=True)
class Case:
    name: str
    row: dict[str, Any]
    verdict: str                     # ACCEPTED or the rejection reason
    text: str | None = None          # accepted rows: the transcript as stored (NFC, cleaned)
    duration: float | None = None    # accepted rows: the measured duration in seconds


def speech_like(seconds: float, rate: int = 16_000, seed: int = 0, channels: int = 1) -> np.ndarray:
    """A voice-like float32 signal: f0 gliding around 110–220 Hz with 8 harmonics, a ~4 Hz
    syllable envelope and breath noise; peak about 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0 = rng.uniform(110, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 9))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 2 * np.pi))
    wave = voice * envelope + 0.02 * rng.standard_normal(n)
    wave = (0.5 * wave / max(np.max(np.abs(wave)), 1e-9)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def encode(samples: np.ndarray, rate: int = 16_000, fmt: str = "FLAC", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _row(audio: bytes | None, text: str | None, duration: float | None, name: str,
         path: str | None = None, audio_file: str | None = None, no_struct: bool = False) -> dict[str, Any]:
    return {
        "audio": None if no_struct else {"bytes": audio, "path": path if path is not None else name},
        "text": text, "duration": duration,
        "audio_file": audio_file if audio_file is not None else name,
    }


def row_cases(decoy: Path) -> list[Case]:
    """Every case, in source order. `decoy` is the path hostile rows point at."""
    def clip(seconds, seed, rate=16_000, **kw):
        return encode(speech_like(seconds, rate, seed), rate, **kw)

    def ok(name, seconds, seed, text, **kw):
        return _row(clip(seconds, seed), text, seconds, name, **kw)

    first = clip(1.0, 1)
    nfd_audio = clip(1.3, 13)
    nfd_text = unicodedata.normalize("NFD", "Şəhərdə güclü külək əsir, çöldə soyuqdur.")
    nan_wave = speech_like(1.0, seed=19)
    nan_wave[100:110] = np.nan
    inf_wave = speech_like(1.0, 22_050, seed=20)
    inf_wave[5_000] = np.inf
    truncated = clip(1.5, 3)
    long_text = "Azərbaycan Respublikası Cənubi Qafqazda, Xəzər dənizinin sahilində yerləşir. " * 40
    # Digital silence compresses to almost nothing: 11 minutes of it take a few kB of FLAC. The
    # decoder must stop at its cap instead of expanding it (at the default 32 MiB blob limit the
    # same trick would be ~200 hours of audio).
    silence_bomb = encode(np.zeros(8_000 * 660, np.float32), 8_000)
    # A WAV header claiming 1 Hz: 2000 frames become 2000 s (32 M samples) at 16 kHz.
    one_hertz = encode(speech_like(2_000 / 16_000, seed=27), 1, "WAV")

    return [
        Case("valid_flac", _row(first, "Salam, necəsən?", 1.0, "valid_flac.flac"), ACCEPTED, "Salam, necəsən?", 1.0),
        Case("corrupt_bytes", _row(bytes(np.random.default_rng(1).integers(0, 256, 4_000, np.uint8)),
                                   "Xarab fayl", 1.0, "corrupt.flac"), "undecodable_audio"),
        Case("stereo_44k", _row(encode(speech_like(1.2, 44_100, 2, channels=2), 44_100, "WAV"),
                                "Bakı böyük şəhərdir", 1.2, "stereo.wav"), ACCEPTED, "Bakı böyük şəhərdir", 1.2),
        Case("truncated_flac", _row(truncated[: len(truncated) // 2], "Yarımçıq fayl", 1.5, "truncated.flac"),
             "undecodable_audio"),
        Case("zero_samples", _row(encode(np.zeros(0, np.float32), fmt="WAV", subtype="FLOAT"), "Boş səs", 0.0,
                                  "zero.wav"), "empty_audio"),
        Case("zero_bytes", _row(b"", "Heç nə", 1.0, "zero_bytes.flac"), "empty_audio"),
        Case("narrowband_8k", _row(encode(speech_like(1.1, 8_000, 6), 8_000, "WAV"), "Telefon danışığı", 1.1,
                                   "phone.wav"), ACCEPTED, "Telefon danışığı", 1.1),
        Case("digital_silence", _row(encode(np.zeros(16_000, np.float32)), "Sükut", 1.0, "silence.flac"),
             "digital_silence"),
        Case("empty_text", ok("empty_text.flac", 1.0, 8, ""), "empty_text"),
        Case("whitespace_text", ok("whitespace.flac", 1.0, 9, " \t\n\u00a0 "), "empty_text"),
        Case("null_text", ok("null_text.flac", 1.0, 10, None), "empty_text"),
        Case("null_audio", _row(None, "Səs yoxdur", 1.0, "null_audio.flac", no_struct=True), "missing_audio"),
        # Null bytes beside a path to a real local file: `datasets` would open the path; we must not.
        Case("null_bytes_local_path", _row(None, "Yerli fayl", 5.0, "decoy", path=str(decoy), audio_file=str(decoy)),
             "missing_audio"),
        Case("non_nfc_text", _row(nfd_audio, nfd_text, 1.3, "nfd.flac"), ACCEPTED,
             "Şəhərdə güclü külək əsir, çöldə soyuqdur.", 1.3),
        Case("control_characters", ok("control.flac", 1.0, 14, "\x00Bu\x07 gün\u200b hava\tisti\x1b olacaq\r\n"),
             ACCEPTED, "Bu gün hava isti olacaq", 1.0),
        Case("path_traversal", ok("x", 1.0, 15, "Yol oyunu", path="../../etc/passwd", audio_file="../../../etc/shadow"),
             ACCEPTED, "Yol oyunu", 1.0),
        # The bytes hold 1.0 s, the decoy file on disk 5.0 s: the stored duration tells which was read.
        Case("path_to_local_file", ok("x", 1.0, 16, "Bayt oxunur", path=str(decoy), audio_file=str(decoy)),
             ACCEPTED, "Bayt oxunur", 1.0),
        Case("over_30_seconds", _row(clip(31.0, 17, 8_000), "Uzun danışıq", 31.0, "long.flac"), "too_long"),
        Case("too_many_tokens", ok("tokens.flac", 2.0, 18, long_text), "too_many_tokens"),
        Case("nan_samples", _row(encode(nan_wave, fmt="WAV", subtype="FLOAT"), "NaN nümunə", 1.0, "nan.wav"),
             "non_finite_samples"),
        Case("inf_samples", _row(encode(inf_wave, 22_050, "WAV", "FLOAT"), "Sonsuz nümunə", 1.0, "inf.wav"),
             "non_finite_samples"),
        Case("duration_mismatch", _row(clip(1.0, 21), "Yanlış müddət", 9.0, "mismatch.flac"), "duration_mismatch"),
        Case("duration_nan", _row(clip(1.0, 22), "Müddət məlum deyil", float("nan"), "nan_duration.flac"),
             "duration_mismatch"),
        Case("duration_null", _row(clip(1.4, 23), "Müddət yazılmayıb", None, "null_duration.flac"), ACCEPTED,
             "Müddət yazılmayıb", 1.4),
        Case("audio_over_byte_limit", _row(encode(speech_like(2.0, 44_100, 24, channels=2), 44_100, "WAV", "FLOAT"),
                                           "Çox böyük fayl", 2.0, "huge.wav"), "audio_too_large"),
        Case("too_short", _row(clip(0.1, 25), "Qısa", 0.1, "short.flac"), "too_short"),
        Case("silence_bomb", _row(silence_bomb, "Sıxılmış sükut", 660.0, "bomb.flac"), "too_long"),
        Case("one_hertz_header", _row(one_hertz, "Bir herts", 0.125, "one_hz.wav"), "too_long"),
        Case("punctuation_only_text", ok("punct.flac", 1.0, 28, " ?! … — "), "empty_text"),
        Case("control_only_text", ok("ctrl_only.flac", 1.0, 29, "\x00\x07\u200b\u200e"), "empty_text"),
        Case("exact_duplicate", _row(first, "Salam, necəsən?", 1.0, "valid_flac.flac"), "duplicate"),
        Case("valid_flac_longer", ok("valid2.flac", 2.0, 31, "Sabahınız xeyir, əziz dinləyicilər!"), ACCEPTED,
             "Sabahınız xeyir, əziz dinləyicilər!", 2.0),
        # Same audio as non_nfc_text, transcript in NFC: the same row once cleaned.
        Case("duplicate_after_cleaning", _row(nfd_audio, unicodedata.normalize("NFC", nfd_text), 1.3, "nfd_copy.flac"),
             "duplicate"),
    ]


def write_corpus(out_dir: str | Path, files: int = 3, row_group_size: int = 4) -> list[Case]:
    """Write the row cases as `files` parquet files with small row groups; return them in order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    decoy = out.resolve() / "decoy.flac"
    decoy.write_bytes(encode(speech_like(5.0, seed=99)))
    cases = row_cases(decoy)
    per_file = -(-len(cases) // files)
    for i in range(files):
        chunk = cases[i * per_file:(i + 1) * per_file]
        table = pa.Table.from_pylist([c.row for c in chunk], schema=CORPUS_SCHEMA)
        pq.write_table(table, out / f"part-{i:03d}.parquet", row_group_size=row_group_size)
    expected = {
        f"{index:08d}": {"case": c.name, "verdict": c.verdict,
                         **({"text": c.text, "duration": c.duration} if c.verdict == ACCEPTED else {})}
        for index, c in enumerate(cases)
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return cases


# ---- files that must stop the prepare stage with one clear message ----

def _good_table(seed: int = 100) -> pa.Table:
    rows = [_row(encode(speech_like(1.0, seed=seed + i)), f"Yaxşı cümlə {i}", 1.0, f"good{i}.flac") for i in range(2)]
    return pa.Table.from_pylist(rows, schema=CORPUS_SCHEMA)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _schema_cases() -> dict[str, tuple[bytes, list[str]]]:
    """case → (content of the bad file, fragments its error line must hold)."""
    good = _good_table(200)
    audio_idx, duration_idx = good.schema.get_field_index("audio"), good.schema.get_field_index("duration")
    return {
        "missing_column": (_parquet_bytes(good.drop_columns(["duration"])), ["missing column(s) duration"]),
        "renamed_column": (_parquet_bytes(good.rename_columns(["audio", "transcript", "duration", "audio_file"])),
                           ["missing column(s) text", "transcript"]),
        "duration_as_string": (_parquet_bytes(good.set_column(duration_idx, "duration", pa.array(["1.0", "1.0"]))),
                               ["duration must be numeric"]),
        "audio_as_plain_binary": (_parquet_bytes(good.set_column(audio_idx, "audio", good["audio"].combine_chunks()
                                                                 .field("bytes"))), ["audio must be struct"]),
        "text_as_integer": (_parquet_bytes(good.set_column(1, "text", pa.array([1, 2], pa.int64()))),
                            ["text must be string"]),
        "empty_file": (b"", ["empty file"]),
        "csv_named_parquet": (b"audio,text,duration,audio_file\n,salam,1.0,a.flac\n", ["not a readable parquet file"]),
        "truncated_parquet": (_parquet_bytes(good)[:-200], ["not a readable parquet file"]),
    }


SCHEMA_CASES = ("missing_column", "renamed_column", "duration_as_string", "audio_as_plain_binary",
                "text_as_integer", "empty_file", "csv_named_parquet", "truncated_parquet")


def write_schema_cases(out_dir: str | Path) -> dict[str, tuple[Path, Path, list[str]]]:
    """One directory per case holding a_good.parquet and b_bad.parquet (the broken file sorts
    last, so the good one is read first). Returns case → (directory, bad file, fragments)."""
    out = Path(out_dir)
    written = {}
    cases = _schema_cases()
    assert tuple(cases) == SCHEMA_CASES
    for name, (content, fragments) in cases.items():
        directory = out / name
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(_good_table(), directory / "a_good.parquet")
        (directory / "b_bad.parquet").write_bytes(content)
        written[name] = (directory, directory / "b_bad.parquet", fragments)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/bad_corpus.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    cases = write_corpus(out / "rows")
    schema = write_schema_cases(out / "schema")
    accepted = sum(c.verdict == ACCEPTED for c in cases)
    print(f"{out / 'rows'}: {len(cases)} rows, {accepted} valid, {len(cases) - accepted} bad "
          f"(use data.max_audio_bytes={MAX_AUDIO_BYTES}; verdicts in expected.json)")
    print(f"{out / 'schema'}: {len(schema)} cases that must stop prepare: {', '.join(schema)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
