"""Waveform augmentation for training, and the noisy copy of the test split for evaluation.

Training (train.augment): speed perturbation (Kaldi/ESPnet style: the clip resampled with soxr so
it plays 0.9/1.0/1.1 times as fast, pitch and tempo together) and additive noise at a random SNR,
white or speech-shaped (white noise given the clip's own long-term spectrum), generated here from
a seeded numpy generator. Each clip's randomness comes from (seed, epoch, clip id) alone, so a run
resumed mid-epoch augments the remaining clips exactly as the uninterrupted run would, and the
same clip differs from epoch to epoch. SpecAugment is Whisper's own (config.apply_spec_augment,
mask_time_prob, mask_feature_prob), applied by the model in training mode only; its masks come from
numpy's global generator, which the Trainer seeds and stores in every checkpoint, so a resumed run
draws the same masks.

Evaluation (evaluate.noise_*): a noisy copy of the test split, the same for every run, with noise
of other colours (pink, brown) from another bit generator (Philox, not the PCG64 of training) at
10-20 dB SNR, so the score measures robustness to noise that training never saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import soxr

from .audio import SAMPLE_RATE

# train.augment with every augmentation off (what params.yaml ships).
NO_AUGMENT = {"speeds": [1.0], "noise_prob": 0.0, "noise_snr_db": [10.0, 30.0], "mask_time_prob": 0.0,
              "mask_feature_prob": 0.0}

# Spectral exponents: power ∝ 1/f^exponent.
TEST_COLOURS = {"pink": 1.0, "brown": 2.0}


def clip_key(clip_id: str) -> int:
    """A stable 64-bit integer for a clip id (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(str(clip_id).encode()).digest()[:8], "little")


def _fft_length(n: int) -> int:
    """The power of two at or above n: numpy's FFT of a clip's own length (often a large prime
    factor) was 100 ms a clip, of a power of two a few ms."""
    return 1 << max(n - 1, 1).bit_length()


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of `n` samples whose power falls as 1/f^exponent (0 white, 1 pink, 2 brown)."""
    size = _fft_length(n)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.fft.rfftfreq(size)
    freqs[0] = freqs[1]  # no infinite gain at DC
    return np.fft.irfft(spectrum / freqs ** (exponent / 2), size)[:n]


def speech_shaped_noise(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise with the clip's long-term magnitude spectrum and random phases."""
    size = _fft_length(len(wave))
    magnitude = np.abs(np.fft.rfft(wave, size))
    phase = rng.uniform(0, 2 * np.pi, magnitude.shape)
    return np.fft.irfft(magnitude * np.exp(1j * phase), size)[:len(wave)]


def mix_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """wave + noise scaled so that 10·log10(P_wave / P_noise) = snr_db (powers over the whole clip)."""
    signal_power = float(np.mean(wave.astype(np.float64) ** 2))
    noise_power = float(np.mean(noise ** 2))
    if signal_power == 0 or noise_power == 0:
        return wave
    scale = np.sqrt(signal_power / (noise_power * 10 ** (snr_db / 10)))
    return (wave + scale * noise).astype(np.float32)


def change_speed(wave: np.ndarray, factor: float) -> np.ndarray:
    """The clip played `factor` times as fast (length / factor), as sox's `speed` does."""
    if factor == 1.0:
        return wave
    return soxr.resample(wave, SAMPLE_RATE * factor, SAMPLE_RATE).astype(np.float32)


@dataclass(frozen=True)
class Augmenter:
    """Training augmentation of one clip, a function of (seed, epoch, clip id) and the clip."""

    seed: int
    speeds: tuple[float, ...] = (1.0,)
    noise_prob: float = 0.0
    snr_db: tuple[float, float] = (10.0, 30.0)
    max_samples: int = 30 * SAMPLE_RATE  # a slowed clip must still fit Whisper's window

    @classmethod
    def from_params(cls, augment: dict, seed: int, max_samples: int) -> "Augmenter":
        return cls(seed=seed, speeds=tuple(augment["speeds"]), noise_prob=augment["noise_prob"],
                   snr_db=tuple(augment["noise_snr_db"]), max_samples=max_samples)

    @property
    def active(self) -> bool:
        return self.speeds != (1.0,) or self.noise_prob > 0

    def __call__(self, wave: np.ndarray, clip_id: str, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch, clip_key(clip_id)])
        factor = float(self.speeds[rng.integers(len(self.speeds))])
        if len(wave) / factor <= self.max_samples:
            wave = change_speed(wave, factor)
        if rng.random() < self.noise_prob:
            snr = rng.uniform(*self.snr_db)
            noise = speech_shaped_noise(wave, rng) if rng.random() < 0.5 else rng.standard_normal(len(wave))
            wave = mix_at_snr(wave, noise, snr)
        return wave


@dataclass(frozen=True)
class NoisyCopy:
    """The fixed noisy version of an evaluation clip: pink or brown noise at an SNR drawn from
    `snr_db`, from a Philox generator keyed by (seed, clip id)."""

    seed: int
    snr_db: tuple[float, float] = (10.0, 20.0)

    @classmethod
    def from_params(cls, evaluate: dict) -> "NoisyCopy":
        return cls(seed=evaluate["noise_seed"], snr_db=tuple(evaluate["noise_snr_db"]))

    def __call__(self, wave: np.ndarray, clip_id: str) -> np.ndarray:
        rng = np.random.Generator(np.random.Philox(key=[self.seed, clip_key(clip_id)]))
        snr = float(rng.uniform(*self.snr_db))
        exponent = list(TEST_COLOURS.values())[int(rng.integers(len(TEST_COLOURS)))]
        return mix_at_snr(wave, coloured_noise(len(wave), exponent, rng), snr)
