"""`azasr transcribe`: a user's own recordings, any length, format, rate or channel count.

A recording is read in blocks, down-mixed and resampled to 16 kHz mono (soxr), then cut into
segments of at most 30 s (Whisper's window) at its quietest moments, so a cut falls in a pause
rather than inside a word; segments that hold only silence are skipped (Whisper invents text on
silence). Each segment is decoded greedily with the model's reference-free token budget for its
duration (decode.TokenBudget), the way the evaluate stage decodes, and keeps its start and end
times: the `json`, `srt` and `vtt` outputs carry them.

Why segments cut at pauses rather than `pipeline(chunk_length_s=30)` with a stride or Whisper's
sequential long-form generation: measured in BENCHMARKS.md ("Long recordings"; bench/longform.py),
on recordings of test clips joined with pauses. Strided chunks cut words in two and rely on
merging the overlap token by token; sequential long-form generation needs timestamp tokens, which
a model fine-tuned without them predicts poorly.

Two engines decode the segments: `transformers` (the export, `artifacts/<exp>_final`) and `ct2`
(the CTranslate2 export `artifacts/<exp>_ct2`, through faster-whisper).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf

from . import PipelineError
from .audio import SAMPLE_RATE
from .decode import TokenBudget

WINDOW_S = 30.0           # Whisper's window: no segment is longer
CUT_SEARCH_S = 10.0       # a cut is placed at the quietest moment of a window's last 10 s
CUT_FRAME_S = 0.1         # energy is measured over 100-ms frames
SILENT_PEAK_DBFS = -50.0  # a segment whose loudest 100 ms is below this holds no speech
READ_BLOCK_FRAMES = 1 << 18
# Extensions picked up when a directory is given (a file named explicitly is always tried):
# whatever libsndfile reads, plus the common other names of its containers.
AUDIO_EXTENSIONS = frozenset(
    {f".{name.lower()}" for name in sf.available_formats()} | {".oga", ".opus", ".aif", ".wave"}
)
FORMATS = ("txt", "json", "srt", "vtt")
ENGINES = ("transformers", "ct2")


@dataclass
class Segment:
    start: float   # seconds from the start of the recording
    end: float
    text: str = ""
    runaway: bool = False   # reached its token budget without an end token (a loop, cut short)


@dataclass
class Transcript:
    path: str
    duration: float
    segments: list[Segment] = field(default_factory=list)
    seconds: float = 0.0    # compute time

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments if s.text).strip()

    def as_dict(self) -> dict:
        return {"path": self.path, "duration": round(self.duration, 3), "text": self.text,
                "chunks": [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
                            **({"runaway": True} if s.runaway else {})} for s in self.segments]}


# --------------------------------------------------------------------------------------------------
# Files and audio


def collect_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named, and audio files found recursively in the directories named, in a stable order.
    A path that does not exist is a user error."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        elif path.exists():
            found.append(path)
        else:
            raise PipelineError(f"{raw}: no such file or directory")
    return list(dict.fromkeys(found))


def audio_duration(path: Path) -> float:
    """Seconds of audio the file's header states (raises AudioReadError when unreadable)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(path, _sf_message(exc)) from None
    if info.samplerate <= 0:
        raise AudioReadError(path, "no sample rate")
    return info.frames / info.samplerate if info.frames > 0 else 0.0


class AudioReadError(PipelineError):
    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: cannot read audio ({reason})")
        self.path, self.reason = path, reason


def _sf_message(exc: Exception) -> str:
    return getattr(exc, "error_string", None) or str(exc).splitlines()[0]


def read_16k_mono(path: Path) -> np.ndarray:
    """The whole file as float32 mono at 16 kHz, read and resampled block by block (a long 44.1-kHz
    stereo recording never sits in memory at its own rate)."""
    import soxr

    try:
        with sf.SoundFile(str(path)) as f:
            rate = int(f.samplerate)
            stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ") \
                if rate != SAMPLE_RATE else None
            parts = []
            while True:
                block = f.read(READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
                last = len(block) < READ_BLOCK_FRAMES
                mono = np.ascontiguousarray(block.mean(axis=1), dtype=np.float32)
                parts.append(stream.resample_chunk(mono, last=last) if stream else mono)
                if last:
                    break
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(path, _sf_message(exc)) from None
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def segment_bounds(wave: np.ndarray, rate: int = SAMPLE_RATE, window_s: float = WINDOW_S,
                   search_s: float = CUT_SEARCH_S) -> list[tuple[int, int]]:
    """(start, end) sample indices of consecutive segments of at most `window_s`, each cut (but the
    last) at the centre of the quietest 100-ms frame of its last `search_s` seconds; a later frame
    wins a tie, so the segments stay long."""
    frame = int(CUT_FRAME_S * rate)
    window, search = int(window_s * rate), int(search_s * rate)
    bounds, start = [], 0
    while len(wave) - start > window:
        lo, hi = start + window - search, start + window
        frames = wave[lo:hi][: (hi - lo) // frame * frame].reshape(-1, frame)
        energy = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))
        quietest = len(energy) - 1 - int(np.argmin(energy[::-1]))
        cut = lo + quietest * frame + frame // 2
        bounds.append((start, cut))
        start = cut
    if len(wave) > start:
        bounds.append((start, len(wave)))
    return bounds


def is_silent(wave: np.ndarray, rate: int = SAMPLE_RATE) -> bool:
    frame = int(CUT_FRAME_S * rate)
    if len(wave) < frame:
        return True
    frames = wave[: len(wave) // frame * frame].reshape(-1, frame)
    loudest = float(np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)).max())
    return loudest <= 10 ** (SILENT_PEAK_DBFS / 20)


# --------------------------------------------------------------------------------------------------
# Engines: decode a list of ≤30-s waveforms


class TransformersEngine:
    """The export (a save_pretrained directory) with the evaluate stage's batched greedy decoder."""

    name = "transformers"

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "auto",
                 budget: TokenBudget | None = None):
        from transformers.utils import logging as hf_logging

        from .model import ResolvedModel, load_model
        from .precision import for_inference, resolve_precision

        hf_logging.disable_progress_bar()  # "Loading weights" bars: the transcription's own bar is the one to read

        model, self.processor = load_model(ResolvedModel(str(model_dir), Path(model_dir), "local directory", ""))
        self.budget = budget or TokenBudget.from_generation_config(model.generation_config) or fallback_budget()
        self.model = for_inference(model.to(device), resolve_precision(precision, device, inference=True))

    def decode(self, waves: list[np.ndarray], batch_size: int) -> list[tuple[str, bool]]:
        import torch

        from .decode import greedy_decode
        from .evaluate import CPU_ENCODER_BATCH

        model, out = self.model, []
        encoder = model.get_encoder()
        encoder_batch = CPU_ENCODER_BATCH if model.device.type == "cpu" else batch_size
        with torch.inference_mode():
            for begin in range(0, len(waves), batch_size):
                batch = waves[begin:begin + batch_size]
                features = self.processor.feature_extractor(batch, sampling_rate=SAMPLE_RATE,
                                                            return_tensors="pt").input_features
                features = features.to(model.device, encoder.conv1.weight.dtype)
                encoded = torch.cat([encoder(features[i:i + encoder_batch]).last_hidden_state
                                     for i in range(0, len(features), encoder_batch)]).to(model.proj_out.weight.dtype)
                decoded = greedy_decode(model, encoded, [self.budget.for_duration(len(w) / SAMPLE_RATE) for w in batch])
                texts = self.processor.tokenizer.batch_decode(decoded.tokens, skip_special_tokens=True)
                out += [(t.strip(), bool(r)) for t, r in zip(texts, decoded.runaway.tolist())]
        return out


class CT2Engine:
    """The CTranslate2 export through faster-whisper, with the same greedy settings and budgets:
    language az, no timestamps, no temperature fallback, no silence heuristics (segments that hold
    only silence never reach it)."""

    name = "ct2"

    def __init__(self, model_dir: Path, device: str = "cpu", compute_type: str = "default",
                 budget: TokenBudget | None = None):
        from faster_whisper import WhisperModel

        from .ct2_export import MANIFEST

        if not (Path(model_dir) / "model.bin").is_file():
            raise PipelineError(f"{model_dir} is not a CTranslate2 model (no model.bin); "
                                "make one with `dvc repro ct2_export`")
        manifest = Path(model_dir) / MANIFEST
        rule = json.loads(manifest.read_text(encoding="utf-8")).get("token_budget") if manifest.is_file() else None
        self.budget = budget or (TokenBudget(**rule) if rule else fallback_budget())
        self.model = WhisperModel(str(model_dir), device=device, compute_type=compute_type,
                                  cpu_threads=int(os.environ.get("OMP_NUM_THREADS", "0") or 0))

    def decode(self, waves: list[np.ndarray], batch_size: int) -> list[tuple[str, bool]]:
        out = []
        for wave in waves:
            budget = self.budget.for_duration(len(wave) / SAMPLE_RATE)
            segments, _ = self.model.transcribe(
                wave, language="az", task="transcribe", beam_size=1, best_of=1, temperature=0.0,
                without_timestamps=True, condition_on_previous_text=False, vad_filter=False,
                compression_ratio_threshold=None, log_prob_threshold=None, no_speech_threshold=None,
                max_new_tokens=budget, suppress_blank=True,
            )
            segments = list(segments)
            tokens = sum(len(s.tokens) for s in segments)
            out.append((" ".join(s.text.strip() for s in segments).strip(), tokens >= budget))
        return out


def fallback_budget() -> TokenBudget:
    """For a model that carries no measured budget (a base model): Whisper's own limit over a
    full window, reached by a 24-s segment."""
    return TokenBudget(tokens_per_second=round(TokenBudget.LIMIT / TokenBudget.WINDOW_S, 3))


def load_engine(engine: str, model_dir: Path, device: str = "cpu", **kwargs):
    if engine not in ENGINES:
        raise PipelineError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if not Path(model_dir).is_dir():
        hint = "dvc repro ct2_export" if engine == "ct2" else "make repro"
        raise PipelineError(f"no model at {model_dir}: run `{hint}` first, or give --model DIR")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return (CT2Engine if engine == "ct2" else TransformersEngine)(Path(model_dir), device, **kwargs)


# --------------------------------------------------------------------------------------------------
# Whole recordings


def transcribe_wave(engine, wave: np.ndarray, batch_size: int = 8) -> list[Segment]:
    """Segments of one 16-kHz recording with their text (silent ones left out)."""
    spans = [(a, b) for a, b in segment_bounds(wave) if not is_silent(wave[a:b])]
    decoded = engine.decode([wave[a:b] for a, b in spans], batch_size) if spans else []
    return [Segment(a / SAMPLE_RATE, b / SAMPLE_RATE, text, runaway)
            for (a, b), (text, runaway) in zip(spans, decoded)]


def transcribe_files(engine, files: list[Path], batch_size: int = 8, progress: bool = True) -> Iterator[Transcript | AudioReadError]:
    """Transcripts (or the read error) of each file in order, with a progress bar over audio
    seconds (ETA) that names the file being read."""
    from tqdm import tqdm

    durations: dict[Path, float | AudioReadError] = {}
    for path in files:
        try:
            durations[path] = audio_duration(path)
        except AudioReadError as exc:
            durations[path] = exc
    total = sum(d for d in durations.values() if isinstance(d, float))
    with tqdm(total=round(total, 1), unit="s", unit_scale=False, disable=not progress, mininterval=0.5,
              bar_format="{desc}{percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]",
              dynamic_ncols=True) as bar:
        for i, path in enumerate(files, 1):
            bar.set_description_str(f"file {i}/{len(files)} {path.name}")
            state = durations[path]
            if isinstance(state, AudioReadError):
                bar.write(f"azasr: skipped {state}", file=sys.stderr)  # tqdm.write defaults to stdout: keep it for transcripts
                yield state
                continue
            start = time.perf_counter()
            try:
                wave = read_16k_mono(path)
            except AudioReadError as exc:
                bar.write(f"azasr: skipped {exc}", file=sys.stderr)
                bar.update(round(state, 1))
                yield exc
                continue
            segments = transcribe_wave(engine, wave, batch_size)
            bar.update(round(state, 1))
            yield Transcript(str(path), len(wave) / SAMPLE_RATE, segments, time.perf_counter() - start)


# --------------------------------------------------------------------------------------------------
# Output formats


def _clock(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(t: Transcript) -> str:
    cues = [s for s in t.segments if s.text]
    return "".join(f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n\n"
                   for i, s in enumerate(cues, 1))


def to_vtt(t: Transcript) -> str:
    cues = [s for s in t.segments if s.text]
    return "WEBVTT\n\n" + "".join(f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n\n" for s in cues)


def render(transcripts: list[Transcript], fmt: str) -> str:
    """What stdout shows: txt prints the text (with a `# <path>` line before each when there are
    several), json one object (a list of them for several files), srt/vtt one file's subtitles."""
    if fmt == "txt":
        if len(transcripts) == 1:
            return transcripts[0].text + "\n"
        return "".join(f"# {t.path}\n{t.text}\n" for t in transcripts)
    if fmt == "json":
        obj = transcripts[0].as_dict() if len(transcripts) == 1 else [t.as_dict() for t in transcripts]
        return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    if fmt in ("srt", "vtt"):
        return "".join((to_srt if fmt == "srt" else to_vtt)(t) for t in transcripts)
    raise PipelineError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")


def render_one(t: Transcript, fmt: str) -> str:
    return {"txt": lambda: t.text + "\n", "json": lambda: json.dumps(t.as_dict(), ensure_ascii=False, indent=2) + "\n",
            "srt": lambda: to_srt(t), "vtt": lambda: to_vtt(t)}[fmt]()


def real_time_factor(compute_s: float, audio_s: float) -> float | None:
    return round(compute_s / audio_s, 4) if audio_s > 0 and math.isfinite(compute_s) else None
