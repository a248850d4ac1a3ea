"""`azasr push --repo ID`: publish the export (and its CTranslate2 copy, if asked) to the
Hugging Face hub. The token comes from the environment (HF_TOKEN) only: never from a stored
login, never from the command line (it would land in shell history and process lists), never
written anywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import PipelineError

# What an export holds that the hub should get: weights (safetensors), configs, tokenizer, card.
UPLOAD_PATTERNS = ["*.safetensors", "*.json", "*.txt", "*.md", "model.bin"]


@dataclass
class Pushed:
    repo_id: str
    url: str
    files: int


def push_export(model_dir: str | Path, repo_id: str, *, private: bool = False, ct2_dir: str | Path | None = None,
                message: str | None = None) -> Pushed:
    from huggingface_hub import HfApi, ModelCard
    from huggingface_hub.errors import HfHubHTTPError

    from .export import check_card
    from .hub import redact

    model_dir = Path(model_dir)
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise PipelineError("set HF_TOKEN in the environment to a token with write access "
                            "(azasr push reads the token from the environment only)")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise PipelineError("HF_HUB_OFFLINE is set: unset it to publish")
    card_path = model_dir / "README.md"
    if not (model_dir / "config.json").is_file() or not card_path.is_file():
        raise PipelineError(f"{model_dir} is not an export with a model card: run `make repro` first, or give --model DIR")
    text = card_path.read_text(encoding="utf-8")
    check_card(text)
    api = HfApi(token=token)
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and any(p.match(pat) for pat in UPLOAD_PATTERNS))
    try:
        ModelCard(text).validate(repo_type="model")  # the Hub's own check of the metadata
        url = str(api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True))
        api.upload_folder(repo_id=repo_id, folder_path=str(model_dir), allow_patterns=UPLOAD_PATTERNS,
                          commit_message=message or f"azasr export {model_dir.name}")
        if ct2_dir:
            if not (Path(ct2_dir) / "model.bin").is_file():
                raise PipelineError(f"{ct2_dir} holds no CTranslate2 model: run `dvc repro ct2_export` first")
            api.upload_folder(repo_id=repo_id, folder_path=str(ct2_dir), path_in_repo="ct2",
                              allow_patterns=UPLOAD_PATTERNS, commit_message=f"azasr CTranslate2 export {Path(ct2_dir).name}")
    except (HfHubHTTPError, ValueError, OSError) as exc:
        if os.environ.get("AZASR_DEBUG"):
            raise
        # One line, with any token or URL credentials removed.
        raise PipelineError(f"pushing to {repo_id} failed: {redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}") from None
    return Pushed(repo_id, url, len(files))
