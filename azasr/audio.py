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
# Bytes per sample of the uncompressed encodings: their size tells how much audio a file holds,
# so a header that states fewer frames than the file carries (libsndfile believes the header and
# would silently drop the rest, leaving a full transcript on part of its audio) is caught.
_PCM_BYTES = {"PCM_S8": 1, "PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8,
              "ULAW": 1, "ALAW": 1}
# What may follow the samples in a well-formed file (LIST/INFO, cue and similar chunks).
HEADER_SLACK_BYTES = 8192


class AudioError(ValueError):
    """The bytes are not usable audio. `reason` is a short code (it becomes a rejection reason),
    the message says the details."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(data: bytes, max_seconds: float = MAX_DECODE_SECONDS) -> tuple[np.ndarray, int]:
    """Decode audio bytes (any format libsndfile reads) to float32 [frames, channels]; audio longer
    than `max_seconds` is refused as too_long after reading at most one frame more than that."""
    if not data:
        raise AudioError("empty_audio", "zero bytes")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate, channels = int(f.samplerate), max(int(f.channels), 1)
            width = _PCM_BYTES.get(f.subtype)
            if width and f.frames >= 0 and len(data) > f.frames * channels * width + HEADER_SLACK_BYTES:
                stated = f.frames * channels * width
                raise AudioError("header_length_mismatch",
                                 f"the {f.format} header states {f.frames} frames ({stated} bytes of samples), "
                                 f"the file holds {len(data)} bytes")
            limit = max(min(int(min(max_seconds, MAX_DECODE_SECONDS) * rate), MAX_DECODE_SAMPLES // channels), 0)
            # Never more than limit + 1 frames, whatever length the header states (or leaves unknown).
            samples = f.read(frames=limit + 1, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except sf.LibsndfileError as exc:  # its str() holds the BytesIO's address: not reproducible
        raise AudioError("undecodable_audio", exc.error_string) from None
    except (RuntimeError, TypeError, ValueError, MemoryError) as exc:
        raise AudioError("undecodable_audio", str(exc)) from None
    if len(samples) > limit:
        raise AudioError("too_long", f"more than {limit} frames at {rate} Hz × {channels} channel(s); "
                                     f"decoding stops at {min(max_seconds, MAX_DECODE_SECONDS):g} s or {MAX_DECODE_SAMPLES} samples")
    return samples, rate


def to_mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Average channels and resample to 16 kHz (soxr HQ)."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != SAMPLE_RATE and mono.size:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return mono


def load_16k(data: bytes, max_seconds: float = MAX_DECODE_SECONDS) -> np.ndarray:
    """Bytes → float32 mono 16 kHz waveform."""
    samples, rate = decode(data, max_seconds)
    return to_mono_16k(samples, rate)


def encode_flac(waveform: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """Mono float waveform → 16-bit FLAC bytes (clipped to [-1, 1])."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(waveform, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def peak_dbfs(waveform: np.ndarray) -> float:
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")
