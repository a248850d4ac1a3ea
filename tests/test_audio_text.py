"""Audio decoding/resampling and the Azerbaijani text normalizer."""

import numpy as np
import pytest

from azasr.audio import AudioError, encode_flac, load_16k
from azasr.text import az_lower, clean_text, normalize_text
from conftest import audio_bytes, tone


def dominant_frequency(x: np.ndarray, rate: int = 16_000) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("rate,channels,fmt", [(16_000, 1, "FLAC"), (44_100, 2, "WAV"), (8_000, 1, "WAV"), (22_050, 1, "OGG")])
def test_any_rate_and_layout_becomes_16k_mono(rate, channels, fmt):
    data = audio_bytes(tone(1.5, rate, channels=channels), rate, fmt, "VORBIS" if fmt == "OGG" else "PCM_16")
    wave = load_16k(data)
    assert wave.ndim == 1 and wave.dtype == np.float32
    assert abs(len(wave) - 24_000) <= 160  # 1.5 s at 16 kHz
    assert abs(dominant_frequency(wave) - 440) < 5  # resampling keeps the pitch


def test_stereo_is_averaged():
    left = tone(1.0, freq=440)
    right = tone(1.0, freq=440, amplitude=0.1)
    wave = load_16k(audio_bytes(np.stack([left, right], axis=1)))
    assert np.max(np.abs(wave)) == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("data,reason", [(b"", "empty_audio"), (b"not audio at all" * 10, "undecodable_audio"),
                                          (audio_bytes(tone(2.0))[:200], "undecodable_audio")])
def test_unusable_bytes_raise_with_a_reason(data, reason):
    with pytest.raises(AudioError) as err:
        load_16k(data)
    assert err.value.reason == reason


def test_flac_round_trip_is_close():
    wave = tone(1.0)
    assert np.max(np.abs(load_16k(encode_flac(wave)) - wave)) < 1e-3


@pytest.mark.parametrize("raw,expected", [
    ("İLHAM", "ilham"),             # dotted capital İ → i (Python alone gives i + U+0307)
    ("IĞDIR", "ığdır"),             # dotless capital I → ı
    ("Şəki-də, ÇÖL!", "şəki də çöl"),
    ("ǝlma", "əlma"),               # U+01DD turned e typed for schwa
    ("  Bakı   şəhəri?\n", "bakı şəhəri"),
    ("İstanbul’a gəldi…", "istanbul a gəldi"),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_az_lower_keeps_no_combining_dot():
    assert "\u0307" not in az_lower("İ" + "i\u0307")


def test_clean_text_nfc_and_controls():
    decomposed = "s\u0327ə"   # s + combining cedilla → ş in NFC
    assert clean_text(f"\x00{decomposed}\u200b  gəl\t") == "şə gəl"
