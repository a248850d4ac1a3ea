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
            if f.format == "FLAC" and f.frames > 0 and (_flac_last_frame_start(data) or 0) >= f.frames:
                raise AudioError("header_length_mismatch",
                                 f"the FLAC header states {f.frames} samples, its frames go on past that")
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


def _flac_last_frame_start(data: bytes, search_bytes: int = 1 << 20) -> int | None:
    """The first sample of the last frame of a FLAC stream, read from that frame's header (found
    from the end, checked by its CRC-8, and by the frame's CRC-16, which closes the stream), or
    None. libsndfile stops at the total STREAMINFO states, so a header that understates it would
    silently cut the audio short. The CRC-16 matters: in compressed samples a sync code with a
    valid-looking header and CRC-8 turns up about once in 2,000 clips, and its frame number is noise."""
    if not data.startswith(b"fLaC") or len(data) < 42:
        return None
    block = int.from_bytes(data[8:10], "big")  # STREAMINFO min block size (every block, if fixed)
    end = len(data)
    while (pos := max(data.rfind(b"\xff\xf8", 42, end), data.rfind(b"\xff\xf9", 42, end))) >= 0:
        if len(data) - pos > search_bytes:
            return None
        start = _flac_frame_start(data, pos, block)
        if start is not None and _crc16(data[pos:-2]) == int.from_bytes(data[-2:], "big"):
            return start
        end = pos + 1
    return None


def _flac_frame_start(data: bytes, pos: int, block: int) -> int | None:
    """First sample of the frame whose header starts at `pos`, or None when it is not a valid header."""
    head = data[pos:pos + 16]
    if len(head) < 6:
        return None
    size_code, rate_code = head[2] >> 4, head[2] & 0xF
    if size_code == 0 or rate_code == 15 or head[3] >> 4 > 10 or head[3] & 1:
        return None
    leading = 8 - ((~head[4]) & 0xFF).bit_length()   # UTF-8-style coded frame or sample number
    if leading == 1 or leading > 7:
        return None
    length = max(leading, 1)
    number = head[4] & (0x7F >> leading)
    for byte in head[5:4 + length]:
        if byte >> 6 != 0b10:
            return None
        number = number << 6 | byte & 0x3F
    end = 4 + length + {6: 1, 7: 2}.get(size_code, 0) + {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if end >= len(head) or _crc8(head[:end]) != head[end]:
        return None
    return number if head[1] & 1 else number * block   # variable blocking counts samples, fixed frames


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC16 = _crc16_table()


def _crc16(data: bytes) -> int:
    """FLAC's frame CRC-16 (polynomial 0x8005, initial 0)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


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
