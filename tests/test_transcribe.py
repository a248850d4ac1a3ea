"""`azasr transcribe`: files of any rate, channel count and length, the output formats, and
unreadable files reported and skipped without a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, sample_clips, tone

from azasr.audio import SAMPLE_RATE, load_16k
from azasr.transcribe import (AudioReadError, Segment, Transcript, collect_files, read_16k_mono, render,
                              segment_bounds, to_srt, to_vtt)

PAUSE_S = 0.8


def long_recording(clips: list[dict], pause_s: float = PAUSE_S) -> tuple[np.ndarray, str]:
    """Clips joined with pauses of silence (16 kHz), and the joined reference text."""
    pause = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    parts = []
    for clip in clips:
        parts += [load_16k(clip["audio"]), pause]
    return np.concatenate(parts), " ".join(c["text"] for c in clips)


def cli(*args: str, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "azasr", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


def test_segments_are_at_most_a_window_and_cut_in_pauses():
    rate = SAMPLE_RATE
    speech = lambda s: tone(s, rate, amplitude=0.3)  # noqa: E731
    silence = lambda s: np.zeros(int(s * rate), np.float32)  # noqa: E731
    # 26 s of "speech", a 0.5-s pause, 20 s, a pause, 20 s: cuts belong in the pauses.
    wave = np.concatenate([speech(26), silence(0.5), speech(20), silence(0.5), speech(20)])
    bounds = segment_bounds(wave)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(wave)
    assert all(b - a <= 30 * rate for a, b in bounds)
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(len(bounds) - 1))
    first_cut = bounds[0][1] / rate
    assert 26.0 <= first_cut <= 26.5, first_cut
    assert segment_bounds(speech(12)) == [(0, 12 * rate)]


def test_reads_any_rate_and_channel_count(tmp_path):
    stereo = np.stack([tone(3, 44_100), tone(3, 44_100)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 44_100, subtype="PCM_16")
    wave = read_16k_mono(path)
    assert wave.dtype == np.float32 and abs(len(wave) - 3 * SAMPLE_RATE) <= 2
    assert 0.25 < float(np.abs(wave).max()) < 0.35


def test_collects_audio_recursively_and_refuses_missing_paths(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.wav", "a/b/y.flac", "a/b/z.ogg", "a/notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in collect_files([tmp_path / "a"])]
    assert found == ["a/b/y.flac", "a/b/z.ogg", "a/x.wav"]
    from azasr import PipelineError

    with pytest.raises(PipelineError, match="no such file"):
        collect_files([tmp_path / "missing.wav"])


def test_subtitles_and_json_carry_segment_times():
    t = Transcript("x.wav", 65.2, [Segment(0.0, 29.5, "salam dünya"), Segment(29.5, 58.0, ""),
                                  Segment(58.0, 65.2, "sağ ol", runaway=True)])
    srt = to_srt(t)
    assert srt.startswith("1\n00:00:00,000 --> 00:00:29,500\nsalam dünya\n\n2\n00:00:58,000 --> 00:01:05,200\n")
    assert re.fullmatch(r"(\d+\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n[^\n]+\n\n)+", srt)
    vtt = to_vtt(t)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:29.500\nsalam dünya\n\n")
    obj = json.loads(render([t], "json"))
    assert obj["text"] == "salam dünya sağ ol" and obj["chunks"][2] == {"start": 58.0, "end": 65.2, "text": "sağ ol",
                                                                        "runaway": True}
    assert render([t, t], "txt") == "# x.wav\nsalam dünya sağ ol\n# x.wav\nsalam dünya sağ ol\n"


def test_unreadable_file_is_an_audio_read_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really")
    with pytest.raises(AudioReadError, match="bad.wav: cannot read audio"):
        read_16k_mono(bad)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A 44.1-kHz stereo WAV of one clip and a ≥90-s FLAC of embedded clips joined with pauses."""
    import soxr

    out = tmp_path_factory.mktemp("recordings")
    clips = sample_clips(40)
    wave44 = soxr.resample(load_16k(clips[0]["audio"]), SAMPLE_RATE, 44_100)
    sf.write(out / "stereo44k.wav", np.stack([wave44, 0.5 * wave44], axis=1), 44_100, subtype="PCM_16")
    joined, count = [], 0
    while sum(len(c) for c in joined) < 90 * SAMPLE_RATE:
        joined.append(np.concatenate([load_16k(clips[count]["audio"]), np.zeros(int(PAUSE_S * SAMPLE_RATE), np.float32)]))
        count += 1
    sf.write(out / "long.flac", np.concatenate(joined), SAMPLE_RATE, subtype="PCM_16")
    mixed = out / "mixed"  # a readable file and a broken one (kept short: the skip test decodes it all)
    mixed.mkdir()
    sf.write(mixed / "stereo44k.wav", np.stack([wave44, 0.5 * wave44], axis=1), 44_100, subtype="PCM_16")
    (mixed / "broken.flac").write_bytes(b"fLaC but nothing else")
    return out


@pytest.fixture(scope="module")
def exported(reference_run) -> Path:
    """The tiny pipeline run's export: what `azasr transcribe` reads by default, with the token
    budget the train stage measured (its text means nothing: tests/test_ct2_export.py checks
    transcripts of a real model)."""
    return reference_run / "artifacts" / "az_whisper_final"


def test_cli_transcribes_a_stereo_44k_wav_and_a_90s_flac(exported, recordings, tmp_path):
    """The issue's "done when": both files through `azasr transcribe`, the transcript on stdout, a
    progress bar and a summary on stderr; json segments cover the 90-s recording in ≤30-s pieces."""
    wav, flac = recordings / "stereo44k.wav", recordings / "long.flac"
    result = cli("transcribe", str(wav), str(flac), "--format", "json", cwd=exported.parents[1])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "s audio" in result.stderr  # the progress bar
    assert "2 of 2 files transcribed" in result.stderr
    short, long = json.loads(result.stdout)
    assert short["path"] == str(wav) and abs(short["duration"] - sf.info(wav).duration) < 0.01
    assert long["duration"] >= 90 and len(long["chunks"]) >= 3
    assert all(c["end"] - c["start"] <= 30.0 for c in long["chunks"])
    assert long["chunks"][-1]["end"] <= long["duration"] + 0.01

    txt = cli("transcribe", str(wav), "--model", str(exported), "--quiet")
    assert txt.returncode == 0 and txt.stdout.strip() == short["text"] and not txt.stderr


def test_cli_skips_unreadable_files_and_fails_at_the_end(exported, recordings, tmp_path):
    result = cli("transcribe", str(recordings / "mixed"), "--model", str(exported), "--format", "srt",
                 "--output-dir", str(tmp_path / "subs"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "broken.flac: cannot read audio" in result.stderr
    assert "broken.flac" not in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("azasr: 1 of 2 files transcribed")
    assert sorted(p.name for p in (tmp_path / "subs").iterdir()) == ["stereo44k.srt"]
    srt = (tmp_path / "subs" / "stereo44k.srt").read_text()
    assert re.fullmatch(r"(\d+\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n[^\n]+\n\n)*", srt), srt


def test_cli_errors_are_one_line(tmp_path):
    for args, text in ((["transcribe", str(tmp_path / "nope.wav")], "no such file or directory"),
                       (["transcribe", str(REPO / "README.md"), "--model", str(tmp_path / "none")], "no model at")):
        result = cli(*args)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("azasr: error:") and text in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
