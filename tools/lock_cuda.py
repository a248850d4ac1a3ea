"""Write requirements-cuda.lock: requirements.lock with the CUDA build of torch (PyPI's plain
`torch==X`) and every nvidia-*/cuda-*/triton wheel it needs, pinned with hashes.

pip's own resolver (`pip install --dry-run --report`) downloads each wheel to read its
dependencies, which for the CUDA build means several GB. This reads the same facts without a
big download: the index's JSON file list (names, versions, sha256) and each chosen wheel's
metadata file (PEP 658, `<wheel url>.metadata`, a few kB). Packages already pinned in
requirements.lock keep that pin, so both locks agree on everything but torch and its CUDA
libraries. Target: this interpreter's version on manylinux x86_64.

    python tools/lock_cuda.py            # run by tools/lock.sh after requirements.lock
"""

from __future__ import annotations

import io
import json
import re
import sys
import urllib.error
import urllib.request
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

INDEX = "https://pypi.org/simple"
ROOT = Path(__file__).resolve().parents[1]
ROOT_PACKAGE = "torch"


def read_lock(path: Path) -> dict[str, tuple[str, str]]:
    """{canonical name: (version, 'name==version \\\n    --hash=...')} from a lock file."""
    entries, text = {}, path.read_text()
    for match in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+) \\\n\s+--hash=sha256:([0-9a-f]{64})$", text, re.M):
        name, version, sha = match.groups()
        entries[canonicalize_name(name)] = (version, f"{name}=={version} \\\n    --hash=sha256:{sha}")
    return entries


def get(url: str, accept: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()


def files_of(name: str) -> list[dict]:
    page = get(f"{INDEX}/{name}/", "application/vnd.pypi.simple.v1+json")
    return json.loads(page)["files"]


class RemoteFile(io.RawIOBase):
    """A read-only, seekable view of a file on an HTTP server, read by Range requests: zipfile
    needs only the central directory at the end and the one member it extracts."""

    def __init__(self, url: str, size: int):
        self.url, self.size, self.position = url, size, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.position + n)
        if end <= self.position:
            return b""
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={self.position}-{end - 1}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            if response.status != 206:
                sys.exit(f"lock_cuda: the server ignored a Range request for {self.url}")
            data = response.read()
        self.position += len(data)
        return data


def wheel_metadata(entry: dict) -> str:
    """A wheel's METADATA: the index's separate copy (PEP 658), else (older uploads have none)
    read out of the wheel on the server, a few kB by Range requests instead of the whole wheel."""
    try:
        return get(entry["url"] + ".metadata").decode()
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            sys.exit(f"lock_cuda: metadata of {entry['filename']}: {exc}")
    with zipfile.ZipFile(RemoteFile(entry["url"], entry["size"])) as wheel:
        name = next(n for n in wheel.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        return wheel.read(name).decode()


def pick_wheel(name: str, specifier: SpecifierSet, tags: list) -> tuple[Version, dict]:
    """The newest final release within `specifier` that has a wheel for these tags (the most
    specific tag first), and that wheel's index entry."""
    rank = {tag: i for i, tag in enumerate(tags)}
    best: dict[Version, tuple[int, dict]] = {}
    for entry in files_of(name):
        if not entry["filename"].endswith(".whl") or entry.get("yanked"):
            continue
        _, version, _, wheel_tags = parse_wheel_filename(entry["filename"])
        if version.is_prerelease or version.is_devrelease or not specifier.contains(version, prereleases=False):
            continue
        score = min((rank[t] for t in wheel_tags if t in rank), default=None)
        if score is not None and (version not in best or score < best[version][0]):
            best[version] = (score, entry)
    if not best:
        sys.exit(f"lock_cuda: no wheel of {name}{specifier} for this platform on {INDEX}")
    version = max(best)
    return version, best[version][1]


class Conflict(Exception):
    """A requirement excludes a version already picked: resolve again with it known up front."""


def resolve(root: Requirement, pinned: dict, constraints: dict[str, SpecifierSet], tags, environment) -> dict[str, str]:
    """{name: lock entry} for `root` and everything it needs. Packages pinned in requirements.lock
    keep their pin; others get the newest version within every constraint seen so far."""
    picked: dict[str, Version] = {}
    lines: dict[str, str] = {}
    expanded: set[tuple[str, frozenset]] = set()
    queue = [root]
    while queue:
        requirement = queue.pop(0)
        name = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if name in picked:
            if not requirement.specifier.contains(picked[name], prereleases=True):
                if name in pinned and name != ROOT_PACKAGE:
                    sys.exit(f"lock_cuda: {requirement} conflicts with requirements.lock's {name}=={picked[name]}")
                constraints[name] = constraints.get(name, SpecifierSet()) & requirement.specifier
                raise Conflict(name)
            if (name, extras) in expanded or not extras:
                continue
        if name in pinned and name != ROOT_PACKAGE:
            picked[name] = Version(pinned[name][0])
            lines[name] = pinned[name][1]
            if not requirement.specifier.contains(picked[name], prereleases=True):
                sys.exit(f"lock_cuda: {requirement} conflicts with requirements.lock's {name}=={picked[name]}")
            if not extras:
                continue  # its own dependencies are in requirements.lock already
        if name not in picked or name not in lines:
            version, entry = pick_wheel(name, requirement.specifier & constraints.get(name, SpecifierSet()), tags)
            picked[name] = version
            lines[name] = f"{requirement.name}=={version} \\\n    --hash=sha256:{entry['hashes']['sha256']}"
            ENTRIES[name] = entry
        expanded.add((name, extras))
        if name in pinned and name != ROOT_PACKAGE:
            continue  # an extra of a locked package: its extra dependencies are locked too
        metadata = Parser().parsestr(wheel_metadata(ENTRIES[name]))
        for spec in metadata.get_all("Requires-Dist") or []:
            dependency = Requirement(spec)
            wanted = [""] + sorted(extras)
            if dependency.marker and not any(dependency.marker.evaluate({**environment, "extra": e}) for e in wanted):
                continue
            queue.append(dependency)
    return lines


ENTRIES: dict[str, dict] = {}


def main() -> None:
    pinned = read_lock(ROOT / "requirements.lock")
    torch_version = pinned[ROOT_PACKAGE][0].split("+")[0]
    tags = list(sys_tags())
    environment = {**default_environment(), "platform_system": "Linux", "sys_platform": "linux",
                   "platform_machine": "x86_64"}
    constraints: dict[str, SpecifierSet] = {}
    for _ in range(50):
        try:
            lines = resolve(Requirement(f"{ROOT_PACKAGE}=={torch_version}"), pinned, constraints, tags, environment)
            break
        except Conflict:
            continue
    else:
        sys.exit("lock_cuda: no consistent set of versions after 50 rounds")
    merged = {**{n: line for n, (_, line) in pinned.items()}, **lines}
    out = ["# Generated by tools/lock_cuda.py (via tools/lock.sh): requirements.lock with the CUDA build of",
           f"# torch {torch_version} and its nvidia-*/cuda-*/triton wheels (Linux x86_64, CPython "
           f"{sys.version_info.major}.{sys.version_info.minor}). `make repro` installs it where nvidia-smi lists a GPU."]
    out += sorted(merged.values(), key=lambda line: line.split('==')[0].lower())
    target = ROOT / "requirements-cuda.lock"
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text("\n".join(out) + "\n")
    tmp.replace(target)
    added = sorted(set(lines) - set(pinned))
    print(f"wrote {target.name} ({len(merged)} packages; beyond requirements.lock: {', '.join(added)})")


if __name__ == "__main__":
    main()
