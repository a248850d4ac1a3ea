"""Audio: decode from bytes with soundfile, down-mix, resample with soxr, encode 16 kHz FLAC.

Audio always comes from the dataset's bytes; the `path` stored beside them is a label and is
never opened, so a hostile path in a corpus cannot make the pipeline read local files.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
# Decoding is bounded before any sample is read, so a small blob cannot expand without limit
# (a FLAC of digital silence packs 10 min into 28 kB; a WAV header can claim 1 Hz): at most
# this long (20× Whisper's window, longer clips are rejected as too_long anyway) and this many
# samples over all channels (128 MiB of float32).
MAX_DECODE_SECONDS = 600.0
MAX_DECODE_SAMPLES = 2**25


class AudioError(ValueError):
    """The bytes are not usable audio. `reason` is a short code (it becomes a rejection reason),
    the message says the details."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Decode audio bytes (any format libsndfile reads) to float32 [frames, channels]."""
    if not data:
        raise AudioError("empty_audio", "zero bytes")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate, channels = int(f.samplerate), max(int(f.channels), 1)
            limit = max(min(int(MAX_DECODE_SECONDS * rate), MAX_DECODE_SAMPLES // channels), 0)
            # Never more than limit + 1 frames, whatever length the header states (or leaves unknown).
            samples = f.read(frames=limit + 1, dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:  # its str() holds the BytesIO's address: not reproducible
        raise AudioError("undecodable_audio", exc.error_string) from None
    except (RuntimeError, TypeError, ValueError, MemoryError) as exc:
        raise AudioError("undecodable_audio", str(exc)) from None
    if len(samples) > limit:
        raise AudioError("too_long", f"more than {limit} frames at {rate} Hz × {channels} channel(s); "
                                     f"decoding stops at {MAX_DECODE_SECONDS:.0f} s or {MAX_DECODE_SAMPLES} samples")
    return samples, rate


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Average channels and resample to 16 kHz (soxr HQ)."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != SAMPLE_RATE and mono.size:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return mono


def load_16k(data: bytes) -> np.ndarray:
    """Bytes → float32 mono 16 kHz waveform."""
    samples, rate = decode(data)
    return to_mono_16k(samples, rate)


def encode_flac(waveform: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """Mono float waveform → 16-bit FLAC bytes (clipped to [-1, 1])."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(waveform, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def peak_dbfs(waveform: np.ndarray) -> float:
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")
