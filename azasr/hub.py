"""The Hugging Face hub, for data: one bounded reachability probe, and mirroring a dataset's parquet shards.

`check_hub_reachable(repo_id)` answers within seconds, before `datasets` or `huggingface_hub` get a
chance to retry for minutes: it respects HF_HUB_OFFLINE (and HF_DATASETS_OFFLINE where `datasets`
reads the data), tries one TCP connection to the endpoint (HF_ENDPOINT, read by huggingface_hub at
import), then makes one API request with a short timeout. Failures become a PipelineError that says
what was tried (repository, endpoint), why it failed in a few words, and the ways out.

`mirror_dataset(repo_id, to)` is `azasr download`: the repository's parquet shards (and README.md)
through `snapshot_download(local_dir=...)` (resumable, per-file atomic), each file then checked
against the checksum the hub lists for it (sha256 for LFS files, git blob sha1 otherwise).

A token only ever comes from huggingface_hub's own lookup (HF_TOKEN, or a `hf auth login` token); it
is never logged or written, and messages pass through `redact`. TLS verification is never turned off.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import PipelineError
from .io import write_json

TCP_TIMEOUT_S = 2.0  # connecting to the endpoint at all
HUB_TIMEOUT_S = 3.0  # one API request (huggingface_hub may add one 3-s registry fetch, once a day)
MIRROR_PATTERNS = ["*.parquet", "README.md"]
MIRROR_MANIFEST = "azasr_mirror.json"
DEFAULT_DATASET = "LocalDoc/azerbaijani_asr"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
FULL_MODEL = "openai/whisper-small"  # presets.full.model.name, named in the ways out


def default_mirror_dir(repo_id: str) -> Path:
    return Path("data/mirror") / repo_id.replace("/", "__")


class HubUnavailable(PipelineError):
    """The hub cannot be used for `repo_id`: `reason` in a few words; `reachable` if it answered at all."""

    def __init__(self, message: str, *, repo_id: str, endpoint: str, reason: str, reachable: bool):
        super().__init__(message)
        self.repo_id, self.endpoint, self.reason, self.reachable = repo_id, endpoint, reason, reachable


# --------------------------------------------------------------------------------------------------
# Probing


def endpoint() -> str:
    """The hub endpoint as shown in messages and written in files: credentials in HF_ENDPOINT
    (`https://user:secret@mirror`) redacted. Requests go through huggingface_hub, which reads the
    real value itself."""
    from huggingface_hub import constants

    return redact(constants.ENDPOINT)


def token_set() -> bool:
    """Whether huggingface_hub would send a token (HF_TOKEN, or a `hf auth login` token file)."""
    from huggingface_hub import get_token

    return bool(get_token())


def insecure_endpoint_reason() -> str | None:
    """Why the endpoint must not be used: plain http:// while a token is set would send the token
    in clear text to anyone on the path. A loopback endpoint (a stand-in or tunnel on this machine)
    is exempt: nothing leaves the machine."""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint())
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS and token_set():
        return (f"HF_ENDPOINT {endpoint()} is plain http:// while a hub token is set, and the token would "
                "travel unencrypted: use an https:// endpoint, or unset HF_TOKEN for an anonymous mirror")
    return None


_TRUE = ("1", "true", "yes", "on")


def offline_reason(*, datasets: bool = False) -> str | None:
    """'HF_HUB_OFFLINE=1 is set' (or the variable that is), else None."""
    names = ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"] + (["HF_DATASETS_OFFLINE"] if datasets else [])
    for name in names:
        value = os.environ.get(name, "").strip()
        if value.lower() in _TRUE:
            return f"{name}={value} is set, so no request was made"
    return None


def redact(text: str) -> str:
    """`text` without any Hugging Face token in it (the environment's, or anything shaped like one)."""
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        token = os.environ.get(name, "").strip()
        if len(token) >= 4:
            text = text.replace(token, "***")
    text = re.sub(r"\bhf_[A-Za-z0-9]{6,}", "hf_***", text)
    return re.sub(r"://[^/\s@]+@", "://***@", text)  # credentials in a (proxy) URL


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _proxied() -> str | None:
    """The name (never the value) of the proxy variable set, if any."""
    return next((v for v in _PROXY_VARS if os.environ.get(v)), None)


def _tcp_reason(url: str) -> str | None:
    """Why a TCP connection to `url`'s host fails within TCP_TIMEOUT_S, or None if it connects.

    Bounded where a firewall drops packets silently. Skipped behind a proxy (a direct connection says
    nothing then): the API request decides.
    """
    from urllib.parse import urlsplit

    if _proxied():
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return f"HF_ENDPOINT {url!r} has no host name"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"HF_ENDPOINT {url!r} has an invalid port"
    where = f"{parts.hostname}:{port}"
    try:
        with socket.create_connection((parts.hostname, port), timeout=TCP_TIMEOUT_S):
            return None
    except socket.gaierror:
        return f"name resolution failed for {parts.hostname}"
    except ConnectionRefusedError:
        return f"connection refused by {where}"
    except (socket.timeout, TimeoutError):
        return f"no connection to {where} within {TCP_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"cannot connect to {where}: {(exc.strerror or type(exc).__name__).lower()}"


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def describe_error(exc: BaseException) -> str:
    """A network or hub error in a few words (no token, no traceback)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    proxy = _proxied()
    via = f" (through the proxy in {proxy})" if proxy else ""
    for e in _chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return (f"TLS certificate verification failed{via}: {e.verify_message or e.reason}; behind a proxy "
                    "that re-signs TLS, point SSL_CERT_FILE at its CA bundle (verification stays on)")
        if isinstance(e, socket.gaierror):
            return f"name resolution failed{via}"
        if isinstance(e, ConnectionRefusedError):
            return f"connection refused{via}"
    if isinstance(exc, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set"
    if isinstance(exc, httpx2.ProxyError):
        return f"the proxy in {proxy or 'the environment'} refused the request ({exc})"
    if isinstance(exc, httpx2.ConnectTimeout):
        return f"no connection within {HUB_TIMEOUT_S:g} s{via}"
    if isinstance(exc, httpx2.TimeoutException):
        return f"no answer within {HUB_TIMEOUT_S:g} s{via}"
    if isinstance(exc, httpx2.TransportError):
        return f"connection failed{via}: {exc}"
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 401:
            return "HTTP 401: the token was rejected or is needed (set HF_TOKEN to a token with access)"
        if status == 429:
            return "HTTP 429: rate-limited by the hub, retry later"
        return f"HTTP {status} from the hub"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


@dataclass
class _Probe:
    info: Any = None
    error: HubUnavailable | None = None


_probes: dict[tuple[str, str, str, str | None, bool], _Probe] = {}


def probe(repo_id: str, repo_type: str = "dataset", revision: str | None = None, *, for_datasets: bool = False):
    """The repository's info (`.sha`, `.card_data`) from one bounded request, or HubUnavailable.

    Remembered per process: a second call neither waits again nor asks again.
    """
    _quiet_http_logs()
    key = (endpoint(), repo_type, repo_id, revision, for_datasets)
    if key in _probes:
        known = _probes[key]
        if known.error is not None:
            raise known.error
        return known.info
    result = _Probe()
    try:
        result.info = _probe(repo_id, repo_type, revision, for_datasets)
    except HubUnavailable as exc:
        result.error = exc
    _probes[key] = result
    if result.error is not None:
        raise result.error
    return result.info


def _quiet_http_logs() -> None:
    """Stages log at INFO: keep the HTTP client from logging every request (thousands while streaming)."""
    import logging

    for name in ("httpx2", "httpx", "httpcore2", "httpcore"):
        log = logging.getLogger(name)
        if log.level == logging.NOTSET:
            log.setLevel(logging.WARNING)


def _probe(repo_id: str, repo_type: str, revision: str | None, for_datasets: bool):
    url = endpoint()

    def fail(reason: str, reachable: bool = False) -> HubUnavailable:
        reason = redact(reason)
        return HubUnavailable(reason, repo_id=repo_id, endpoint=url, reason=reason, reachable=reachable)

    reason = offline_reason(datasets=for_datasets) or insecure_endpoint_reason()
    if reason:
        raise fail(reason)
    reason = _tcp_reason(url)
    if reason:
        raise fail(reason)
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import (
            GatedRepoError,
            HFValidationError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:  # pragma: no cover - a pinned dependency
        raise fail("huggingface_hub is not installed") from None
    try:
        return HfApi().repo_info(repo_id, repo_type=repo_type, revision=revision, timeout=HUB_TIMEOUT_S)
    except HFValidationError:
        raise fail(f"{repo_id!r} is not a valid repository id", reachable=True) from None
    except GatedRepoError:
        raise fail("the repository is gated: accept its terms on the hub and set HF_TOKEN", reachable=True) from None
    except RevisionNotFoundError:
        raise fail(f"revision {revision!r} not found", reachable=True) from None
    except RepositoryNotFoundError:
        raise fail("repository not found, or private without a token that has access (set HF_TOKEN)",
                   reachable=True) from None
    except Exception as exc:  # DNS, refused, timeout, proxy, TLS, 5xx: all mean "cannot use the hub now"
        from huggingface_hub.errors import HfHubHTTPError

        reachable = isinstance(exc, HfHubHTTPError) and getattr(exc.response, "status_code", 500) < 500
        raise fail(describe_error(exc), reachable=reachable) from None


def check_hub_reachable(repo_id: str, repo_type: str = "dataset", revision: str | None = None, *,
                        what: str | None = None, ways_out: str = "", for_datasets: bool = False):
    """`probe`, with a failure turned into one PipelineError: what was tried, why, and the ways out.

    `what` names the repository in the message (default "<repo_type> <repo_id>").
    """
    try:
        return probe(repo_id, repo_type, revision, for_datasets=for_datasets)
    except HubUnavailable as exc:
        what = what or f"{repo_type} {repo_id}" + (f" at revision {revision}" if revision else "")
        if exc.reachable:
            head = f"the Hugging Face hub at {exc.endpoint} does not give {what}: {exc.reason}."
        else:
            head = f"the Hugging Face hub cannot be reached: tried {what} at {exc.endpoint} ({exc.reason})."
        raise HubUnavailable(redact(f"{head} {ways_out}".strip()), repo_id=repo_id, endpoint=exc.endpoint,
                             reason=exc.reason, reachable=exc.reachable) from None


def data_ways_out(model_too: bool = True) -> str:
    """The ways out of a stage that wanted the corpus from the hub."""
    text = ("Ways out: on a machine that reaches the hub, mirror the corpus's parquet shards with "
            "`azasr download --to DIR`, copy DIR here and run "
            "`dvc exp run -S mode.sample=false -S data.source=/path/to/parquet/mirror`")
    if model_too:
        text += (f"; the model cannot come from the hub either: add `-S model.name=/path/to/model/dir` "
                 f"(made there with `azasr pretrained {FULL_MODEL} DIR`)")
    return text + "."


def download_ways_out(repo_id: str) -> str:
    return (f"Ways out: run `azasr download --dataset {repo_id} --to DIR` on a machine that reaches the hub "
            "(HF_ENDPOINT may name a hub mirror), copy DIR here and run "
            "`dvc exp run -S mode.sample=false -S data.source=/path/to/parquet/mirror`; for the model, "
            f"`azasr pretrained {FULL_MODEL} DIR` there and `-S model.name=/path/to/model/dir` here.")


# --------------------------------------------------------------------------------------------------
# Row counts from the dataset card


def card_num_rows(info: Any, split: str) -> int | None:
    """`num_examples` of `split` from the dataset card's `dataset_info`, if the card states it."""
    card = getattr(info, "card_data", None)
    if card is None:
        return None
    data = card.to_dict() if hasattr(card, "to_dict") else dict(card)
    entries = data.get("dataset_info")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        return None
    configs = [e for e in entries if isinstance(e, dict)]
    default = [e for e in configs if e.get("config_name", "default") == "default"]
    for entry in default or (configs if len(configs) == 1 else []):
        for s in entry.get("splits") or []:
            if isinstance(s, dict) and s.get("name") == split and isinstance(s.get("num_examples"), int):
                return s["num_examples"]
    return None


# --------------------------------------------------------------------------------------------------
# Mirroring (azasr download)


@dataclass(frozen=True)
class Expected:
    path: str
    size: int
    algorithm: str  # "sha256" (LFS) or "git-sha1"
    digest: str


@dataclass
class MirrorResult:
    repo_id: str
    revision: str
    directory: Path
    files: list[Expected] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def expected_files(entries, patterns: list[str] = MIRROR_PATTERNS) -> list[Expected]:
    """The repository files to mirror and the checksum the hub lists for each."""
    from fnmatch import fnmatch

    out = []
    for e in entries:
        if not hasattr(e, "blob_id") or not any(fnmatch(e.path, p) for p in patterns):
            continue  # folders, and files outside the patterns
        lfs = getattr(e, "lfs", None)
        if lfs is not None and getattr(lfs, "sha256", None):
            out.append(Expected(e.path, int(lfs.size), "sha256", lfs.sha256))
        else:
            out.append(Expected(e.path, int(e.size), "git-sha1", e.blob_id))
    return sorted(out, key=lambda f: f.path)


def file_digest(path: Path, algorithm: str, progress=None, chunk: int = 8 << 20) -> str:
    """sha256 of a file, or its git blob sha1 (what `git hash-object` prints)."""
    if algorithm == "sha256":
        h = hashlib.sha256()
    else:
        h = hashlib.sha1(usedforsecurity=False)
        h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            if progress is not None:
                progress.update(len(block))
    return h.hexdigest()


def verify_mirror(directory: Path, files: list[Expected], *, remove_bad: bool = True) -> list[str]:
    """Check each file against its expected size and checksum; return the problems, one line each.

    A file that fails is removed (when `remove_bad`), so that a rerun downloads it again instead of
    the pipeline reading it.
    """
    from tqdm import tqdm

    problems = []
    with tqdm(total=sum(f.size for f in files), unit="B", unit_scale=True, desc="Verifying checksums",
              mininterval=1) as bar:
        for f in files:
            path = directory / f.path
            if not path.is_file():
                problems.append(f"{f.path}: missing")
                bar.update(f.size)
                continue
            size = path.stat().st_size
            if size != f.size:
                problems.append(f"{f.path}: {size} bytes, the hub lists {f.size}")
                bar.update(f.size)
            else:
                actual = file_digest(path, f.algorithm, bar)
                if actual == f.digest:
                    continue
                problems.append(f"{f.path}: {f.algorithm} {actual}, the hub lists {f.digest}")
            if remove_bad:
                path.unlink(missing_ok=True)
    return problems


def mirror_dataset(repo_id: str, to: str | os.PathLike, revision: str | None = None) -> MirrorResult:
    """Mirror `repo_id`'s parquet shards and README.md into `to` and verify them (see the module docstring)."""
    start = time.perf_counter()
    directory = Path(to).expanduser()
    if directory.exists() and not directory.is_dir():
        raise PipelineError(f"{directory} exists and is not a directory")
    ways_out = download_ways_out(repo_id)
    what = f"dataset {repo_id}" + (f" at revision {revision}" if revision else "")
    info = check_hub_reachable(repo_id, "dataset", revision, what=what, ways_out=ways_out)
    sha = info.sha
    if not sha:
        raise PipelineError(f"the hub at {endpoint()} gave no commit for {what}")

    from huggingface_hub import HfApi, snapshot_download

    try:
        tree = list(HfApi().list_repo_tree(repo_id, repo_type="dataset", revision=sha, recursive=True))
    except Exception as exc:
        raise PipelineError(redact(f"listing the files of {what} (commit {sha}) on {endpoint()} failed: "
                                   f"{describe_error(exc)}. Rerun to try again.")) from None
    files = expected_files(tree)
    if not any(f.path.endswith(".parquet") for f in files):
        raise PipelineError(
            f"{what} (commit {sha}) has no *.parquet files; for a dataset kept in another format the hub "
            f"publishes a parquet conversion: `azasr download --dataset {repo_id} --revision refs/convert/parquet`"
        )
    wanted = {f.path for f in files}
    present = [p.relative_to(directory).as_posix() for p in directory.rglob("*.parquet")] if directory.is_dir() else []
    stray = sorted(p for p in present if p not in wanted and not p.startswith(".cache/"))
    if stray:
        raise PipelineError(
            f"{directory} holds parquet files that are not in {what} (commit {sha[:12]}): "
            f"{', '.join(stray[:5])}{' …' if len(stray) > 5 else ''}. The pipeline reads every *.parquet under "
            "data.source: remove them or choose another --to."
        )

    print(f"Mirroring {len(files)} files ({human_size(sum(f.size for f in files))}) of {what} (commit {sha[:12]}) "
          f"from {endpoint()} into {directory}", flush=True)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(repo_id, repo_type="dataset", revision=sha, local_dir=directory,
                          allow_patterns=MIRROR_PATTERNS, max_workers=4)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        raise PipelineError(redact(
            f"downloading {what} (commit {sha[:12]}) from {endpoint()} stopped: {describe_error(exc)}. "
            f"Rerun the same command to resume; finished files are kept."
        )) from None

    problems = verify_mirror(directory, files)
    if problems:
        raise PipelineError(
            f"{len(problems)} file(s) in {directory} do not match the checksums the hub lists for {what} "
            f"(commit {sha[:12]}) and were removed: {'; '.join(problems)}. Rerun to download them again."
        )
    result = MirrorResult(repo_id, sha, directory.resolve(), files, time.perf_counter() - start)
    write_json(directory / MIRROR_MANIFEST, {
        "dataset": repo_id,
        "revision": sha,
        "requested_revision": revision,
        "endpoint": endpoint(),
        "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": [{"path": f.path, "size": f.size, f.algorithm: f.digest} for f in files],
    })
    return result


def human_size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def source_argument(directory: Path, cwd: Path | None = None) -> str:
    """How to name `directory` in `-S data.source=...`: relative to the DVC repository that holds it
    (stages run from its root), else absolute."""
    directory = Path(directory).resolve()
    here = (cwd or Path.cwd()).resolve()
    for root in (here, *here.parents):
        if (root / "dvc.yaml").is_file():
            try:
                return directory.relative_to(root).as_posix()
            except ValueError:
                break
    return str(directory)


def run_command(directory: Path) -> str:
    return f"dvc exp run -S mode.sample=false -S data.source={shlex.quote(source_argument(directory))}"
