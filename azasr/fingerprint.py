"""Content fingerprints: what files hold, independent of where they lie and when they were written.

Resumable bookkeeping (`_progress.json`) and the `source` probe stage key their work on these, so a
fresh clone (other folder, other mtimes) computes the same fingerprints and DVC the same hashes.
Hashing a 38 GB corpus on every run would take minutes: each file's sha256 is remembered in
`${AZASR_CACHE:-~/.cache/azasr}/content_sha256.json`, keyed by (real path, size, mtime, inode),
outside the repository and outside anything DVC hashes. A file changed in any of those is re-read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from .io import cache_root, read_json, write_json

CACHE_FILE = "content_sha256.json"


def _cache_path() -> Path:
    return cache_root() / CACHE_FILE


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def files_sha256(paths: Iterable[Path]) -> list[str]:
    """sha256 of each file's bytes, from the cache where the file is unchanged since it was hashed."""
    cache_file = _cache_path()
    try:
        cache = read_json(cache_file)
    except (OSError, ValueError):
        cache = {}
    digests, changed = [], False
    for path in paths:
        key = _stat_key(Path(path))
        if key not in cache:
            with open(path, "rb") as fh:
                cache[key] = hashlib.file_digest(fh, "sha256").hexdigest()
            changed = True
        digests.append(cache[key])
    if changed:
        live = {k: v for k, v in cache.items() if os.path.exists(k.split("|", 1)[0])}  # forget deleted files
        write_json(cache_file, live)
    return digests


def file_sha256(path: Path) -> str:
    return files_sha256([path])[0]


def digest(obj) -> str:
    """sha256 of a JSON-serializable value (sorted keys: the same value always gives the same digest)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
