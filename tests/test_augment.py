"""Training augmentation and the noisy test copy: reproducible per (seed, epoch, clip), SNRs in range."""

from pathlib import Path

import numpy as np
import pytest

from azasr.augment import NO_AUGMENT, Augmenter, NoisyCopy, change_speed, coloured_noise, mix_at_snr
from azasr.audio import SAMPLE_RATE

ALL_ON = dict(speeds=(0.9, 1.0, 1.1), noise_prob=1.0, snr_db=(10.0, 30.0))


def speech_like(seconds=1.0, seed=0):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    rng = np.random.default_rng(seed)
    return (0.3 * envelope * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def snr_db(clean, noisy):
    noise = noisy.astype(np.float64) - clean
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise ** 2))


def test_augmentation_is_a_function_of_seed_epoch_and_clip():
    wave = speech_like()
    augment = Augmenter(seed=42, **ALL_ON)
    first = augment(wave, "clip-1", epoch=0)
    assert np.array_equal(first, augment(wave, "clip-1", epoch=0))             # a resumed run redoes it exactly
    assert np.array_equal(first, Augmenter(seed=42, **ALL_ON)(wave, "clip-1", epoch=0))
    others = [Augmenter(seed=43, **ALL_ON)(wave, "clip-1", 0), augment(wave, "clip-1", 1), augment(wave, "clip-2", 0)]
    for other in others:
        assert len(other) != len(first) or not np.allclose(other, first)


def test_speeds_are_drawn_and_change_the_length():
    wave = speech_like()
    lengths = {len(Augmenter(seed=1, speeds=(0.9, 1.0, 1.1))(wave, f"c{i}", 0)) for i in range(40)}
    assert lengths == {len(change_speed(wave, f)) for f in (0.9, 1.0, 1.1)}
    assert abs(len(change_speed(wave, 1.1)) - len(wave) / 1.1) <= 2


def test_a_slowed_clip_still_fits_the_window():
    wave = speech_like(seconds=2.0)
    augment = Augmenter(seed=1, speeds=(0.9,), max_samples=len(wave) + 10)
    assert np.array_equal(augment(wave, "long", 0), wave)


def test_training_noise_snr_is_in_range_and_off_means_untouched():
    wave = speech_like()
    augment = Augmenter(seed=3, noise_prob=1.0, snr_db=(10.0, 30.0))
    snrs = [snr_db(wave, augment(wave, f"c{i}", 0)) for i in range(30)]
    assert all(9.9 < s < 30.1 for s in snrs) and max(snrs) - min(snrs) > 5
    assert not Augmenter(seed=3).active
    assert np.array_equal(Augmenter(seed=3, speeds=(1.0,), noise_prob=0.0)(wave, "c", 0), wave)


@pytest.mark.parametrize("target", [0.0, 10.0, 20.0])
def test_mix_at_snr_hits_the_target(target):
    wave = speech_like()
    noise = np.random.default_rng(0).standard_normal(len(wave))
    assert snr_db(wave, mix_at_snr(wave, noise, target)) == pytest.approx(target, abs=0.05)


def test_noise_colours_tilt_the_spectrum():
    rng = np.random.default_rng(0)
    n = SAMPLE_RATE

    def low_to_high(x):
        power = np.abs(np.fft.rfft(x)) ** 2
        return power[1:n // 20].mean() / power[n // 4:].mean()

    white, pink, brown = (low_to_high(coloured_noise(n, e, rng)) for e in (0.0, 1.0, 2.0))
    assert white < 3 < pink < brown


def test_noisy_test_copy_is_fixed_differs_from_clean_and_stays_in_range():
    wave = speech_like()
    noisy = NoisyCopy(seed=7, snr_db=(10.0, 20.0))
    copy = noisy(wave, "test-1")
    assert np.array_equal(copy, NoisyCopy(seed=7)(wave, "test-1")) and not np.allclose(copy, wave)
    assert not np.allclose(copy, noisy(wave, "test-2")) and not np.allclose(copy, NoisyCopy(seed=8)(wave, "test-1"))
    snrs = [snr_db(wave, noisy(wave, f"t{i}")) for i in range(30)]
    assert all(9.9 < s < 20.1 for s in snrs)
    # Other noise than training's: the same clip never gets the training draw.
    assert not np.allclose(copy, Augmenter(seed=7, noise_prob=1.0, snr_db=(10.0, 20.0))(wave, "test-1", 0))


def test_no_augment_is_what_params_ships():
    """NO_AUGMENT (the tests' and benchmarks' 'augmentation off') is params.yaml's train.augment."""
    import yaml

    params = Path(__file__).resolve().parents[1] / "params.yaml"
    assert yaml.safe_load(params.read_text(encoding="utf-8"))["train"]["augment"] == NO_AUGMENT
