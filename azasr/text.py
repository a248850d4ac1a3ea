"""Azerbaijani text: cleaning for storage and normalization for scoring and grouping.

Python's default case mapping is wrong for Azerbaijani: "İ".lower() is "i̇" (i + U+0307) and
"I".lower() is "i", while in Azerbaijani İ↔i and I↔ı. Whisper's BasicTextNormalizer also splits
words at U+0307. So the dotted/dotless pairs are mapped by hand before lower-casing.
"""

from __future__ import annotations

import re
import unicodedata

# Schwa is often typed as U+01DD (turned e) instead of U+0259; they are the same letter here.
_LETTER_FIXES = str.maketrans({"İ": "i", "I": "ı", "ǝ": "ə", "Ǝ": "ə"})
_COMBINING_DOT_ABOVE = "\u0307"
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """What is stored: NFC, control and format characters removed, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return _SPACES.sub(" ", text).strip()


def az_lower(text: str) -> str:
    """Lower-case with Azerbaijani rules (İ→i, I→ı), NFC in and out."""
    text = unicodedata.normalize("NFC", text).translate(_LETTER_FIXES).lower()
    return unicodedata.normalize("NFC", text.replace(_COMBINING_DOT_ABOVE, ""))


def normalize_text(text: str) -> str:
    """What is scored and grouped: Azerbaijani lower case, punctuation and symbols removed.

    Letters, digits and marks are kept; everything else becomes a word boundary.
    """
    text = az_lower(clean_text(text))
    text = "".join(ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in text)
    return _SPACES.sub(" ", text).strip()
