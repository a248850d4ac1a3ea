"""The hub, without a network: full-mode prepare and `azasr download` fail fast with one clear message,
and `azasr download` mirrors and verifies a dataset served by a local stand-in for the hub.

The stand-in (`FakeHub`) speaks the few endpoints huggingface_hub uses (repo info, tree listing, file
resolve with HEAD/GET/Range) over plain HTTP on 127.0.0.1, so the real huggingface_hub download code
runs against it (HF_ENDPOINT). Every subprocess gets HF_TOKEN set to a fake secret that must never
appear in any output or file. The whole module takes about 20 s on 2 CPUs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import copy_repo

REPO = Path(__file__).resolve().parents[1]
DATASET = "LocalDoc/azerbaijani_asr"
SECRET = "hf_SECRETdoNotPrint42"  # short: no real-token look-alike in the repo
FAIL_WITHIN_S = 30
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that may try the hub: offline switches off, its own HF_HOME."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT")
           and not k.lower().endswith("_proxy")}
    env.update({"HF_HOME": str(tmp / "hf_home"), "HF_TOKEN": SECRET, "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_clear_failure(result: subprocess.CompletedProcess, seconds: float, *must: str) -> str:
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    assert seconds < FAIL_WITHIN_S, f"took {seconds:.1f} s"
    assert "Traceback" not in out, out
    assert SECRET not in out and "SECRETtoken" not in out
    for text in must:
        assert text in out, f"{text!r} not in:\n{out}"
    return out


# --------------------------------------------------------------------------------------------------
# prepare, full mode, data.source: hub


@pytest.fixture(scope="module")
def full_repo(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("repo"), {"mode": {"sample": False}})


def prepare(repo: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "stages.prepare"], cwd=repo, env={**env, "PYTHONPATH": str(repo)},
                            capture_output=True, text=True, timeout=120)
    return result, time.perf_counter() - start


WAYS_OUT = ("azasr download --to DIR", "dvc exp run -S mode.sample=false -S data.source=/path/to/parquet/mirror",
            "-S model.name=/path/to/model/dir")


def test_prepare_full_mode_offline_fails_fast_and_clearly(full_repo, tmp_path):
    result, seconds = prepare(full_repo, hub_env(tmp_path, HF_HUB_OFFLINE="1"))
    out = assert_clear_failure(result, seconds, DATASET, "(split train)", "https://huggingface.co",
                               "HF_HUB_OFFLINE=1 is set", *WAYS_OUT)
    assert out.strip().startswith("[prepare] error:") and len(out.strip().splitlines()) == 1, out
    assert not (full_repo / "data" / "prepared").exists()


def test_prepare_full_mode_unreachable_endpoint_fails_fast(full_repo, tmp_path):
    port = closed_port()
    result, seconds = prepare(full_repo, hub_env(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{port}"))
    assert_clear_failure(result, seconds, DATASET, f"http://127.0.0.1:{port}", "connection refused", *WAYS_OUT)


def test_prepare_full_mode_silent_endpoint_is_bounded(full_repo, tmp_path):
    """An endpoint that accepts connections and never answers (a black-holing proxy or firewall)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)  # connections complete in the kernel's backlog; nothing ever answers
        port = server.getsockname()[1]
        result, seconds = prepare(full_repo, hub_env(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{port}"))
    assert_clear_failure(result, seconds, DATASET, "no answer within", *WAYS_OUT)


def test_prepare_full_mode_streams_from_a_reachable_hub(fake_hub, tmp_path_factory, tmp_path):
    """With a hub that answers, the hub path works end to end: the row count from the dataset card,
    the stream pinned to the commit probed (the stand-in serves no `main`), every row prepared."""
    import pyarrow.parquet as pq

    repo = copy_repo(tmp_path_factory.mktemp("streamrepo"), {"mode": {"sample": False}})
    env = hub_env(tmp_path, HF_ENDPOINT=fake_hub.url, HF_DATASETS_CACHE=str(tmp_path / "datasets"))
    result, _ = prepare(repo, env)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "HTTP Request" not in out and "SECRETtoken" not in out
    assert f"Bearer {SECRET}" in fake_hub.auth
    shards = sorted((repo / "data" / "prepared").glob("*.parquet"))
    table = pq.read_table(shards)
    assert table.num_rows == 12 and table.column("error").null_count == 12
    stats = json.loads((repo / "outputs" / "stages" / "prepare.json").read_text())
    assert stats["source"] == f"hub dataset {DATASET} (split train)" and stats["source_rows"] == 12


# --------------------------------------------------------------------------------------------------
# azasr download


def download(cwd: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "azasr", "download", *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)
    return result, time.perf_counter() - start


DOWNLOAD_WAYS_OUT = ("azasr download --dataset LocalDoc/azerbaijani_asr --to DIR",
                     "dvc exp run -S mode.sample=false -S data.source=/path/to/parquet/mirror",
                     "-S model.name=/path/to/model/dir")


def test_download_offline_fails_clearly(tmp_path):
    result, seconds = download(tmp_path, hub_env(tmp_path, HF_HUB_OFFLINE="1"), "--to", str(tmp_path / "m"))
    out = assert_clear_failure(result, seconds, DATASET, "https://huggingface.co", "HF_HUB_OFFLINE=1 is set",
                               *DOWNLOAD_WAYS_OUT)
    assert out.startswith("azasr: error:") and len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "m").exists()


def test_download_unreachable_fails_clearly(tmp_path):
    port = closed_port()
    result, seconds = download(tmp_path, hub_env(tmp_path, HF_ENDPOINT=f"http://127.0.0.1:{port}"))
    assert_clear_failure(result, seconds, DATASET, "connection refused", *DOWNLOAD_WAYS_OUT)
    assert not (tmp_path / "data").exists()


class FakeHub(ThreadingHTTPServer):
    """A dataset repository at one commit: `files` are what the tree lists (their checksums),
    `served` what the resolve endpoint sends (defaults to the same bytes)."""

    daemon_threads = True

    def __init__(self, files: dict[str, bytes], lfs: set[str], rows: int):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.lfs, self.served, self.rows = files, lfs, dict(files), rows
        self.auth: set[str] = set()
        self.gets: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def tree(self, under: str = "", recursive: bool = True) -> list[dict]:
        out, folders = [], set()
        prefix = f"{under}/" if under else ""
        for path, data in sorted(self.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if not recursive and "/" in rest:
                folders.add(prefix + rest.split("/")[0])
                continue
            entry = {"type": "file", "path": path, "size": len(data),
                     "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
            if path in self.lfs:
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            out.append(entry)
        return [{"type": "directory", "path": f, "oid": "0" * 40, "size": 0} for f in sorted(folders)] + out


class _Handler(BaseHTTPRequestHandler):
    server: FakeHub

    def log_message(self, *args):
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
        self.send_response(status)
        headers = {"Content-Length": len(body), **(headers or {})}
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, obj) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _route(self, head: bool) -> None:
        hub = self.server
        if self.headers.get("Authorization"):
            hub.auth.add(self.headers["Authorization"])
        url = urlsplit(self.path)
        path = unquote(url.path)
        prefix = f"/api/datasets/{DATASET}"
        if path in (prefix, f"{prefix}/revision/main", f"{prefix}/revision/{COMMIT}"):
            card = {"dataset_info": {"splits": [{"name": "train", "num_examples": hub.rows}]}}
            return self._json({"id": DATASET, "sha": COMMIT, "cardData": card,
                               "siblings": [{"rfilename": p} for p in hub.files]})
        if path.startswith(f"{prefix}/tree/{COMMIT}"):
            under = path[len(f"{prefix}/tree/{COMMIT}"):].strip("/")
            return self._json(hub.tree(under, recursive="recursive=true" in url.query.lower()))
        resolve = f"/datasets/{DATASET}/resolve/{COMMIT}/"
        if path.startswith(resolve) and path[len(resolve):] in hub.served:
            name = path[len(resolve):]
            data = hub.served[name]
            etag = hashlib.sha256(hub.files[name]).hexdigest() if name in hub.lfs else \
                hashlib.sha1(b"blob %d\0" % len(hub.files[name]) + hub.files[name]).hexdigest()
            headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
            start, end = 0, len(data) - 1
            if m := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "")):
                start, end = int(m.group(1)), min(end, int(m.group(2) or end))
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            if not head:
                hub.gets.append(name)
            body = data[start:end + 1]
            if head:
                headers["Content-Length"] = len(data)
            return self._send(206 if "Content-Range" in headers else 200, body, headers, head=head)
        self._send(404, b'{"error": "not found"}', {"Content-Type": "application/json", "X-Error-Code": "EntryNotFound"})

    def do_GET(self):
        self._route(head=False)

    def do_HEAD(self):
        self._route(head=True)


@pytest.fixture
def fake_hub(tmp_path):
    sys.path.insert(0, str(REPO / "tests"))
    from synthetic_corpus import write_mirror

    src = write_mirror(tmp_path / "src", clips=12, shard_rows=6)
    files = {f"data/{p.name}": p.read_bytes() for p in sorted(src.glob("*.parquet"))}
    files["README.md"] = b"---\nlicense: cc-by-nc-4.0\n---\n# stand-in\n"
    files["scripts/convert.py"] = b"print('not mirrored')\n"
    hub = FakeHub(files, lfs={p for p in files if p.endswith(".parquet")}, rows=12)
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    yield hub
    hub.shutdown()
    hub.server_close()


def test_download_mirrors_verifies_and_names_the_command(fake_hub, tmp_path):
    from azasr.data import count_rows, resolve_source

    env = hub_env(tmp_path, HF_ENDPOINT=fake_hub.url)
    mirror = tmp_path / "mirror"
    result, _ = download(tmp_path, env, "--to", str(mirror))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Traceback" not in out and "SECRETtoken" not in out
    assert f"Bearer {SECRET}" in fake_hub.auth  # the token came from HF_TOKEN...
    for f in tmp_path.rglob("*"):  # ...and was written nowhere
        assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f
    parquet = sorted(p for p in fake_hub.files if p.endswith(".parquet"))
    for name in [*parquet, "README.md"]:
        assert (mirror / name).read_bytes() == fake_hub.files[name]
    assert not (mirror / "scripts").exists()
    assert f"dvc exp run -S mode.sample=false -S data.source={mirror.resolve()}" in result.stdout
    manifest = json.loads((mirror / "azasr_mirror.json").read_text())
    assert manifest["revision"] == COMMIT
    assert {f["path"]: f.get("sha256") for f in manifest["files"]}[parquet[0]] == \
        hashlib.sha256(fake_hub.files[parquet[0]]).hexdigest()
    # The mirror is a valid data.source, with the rows the hub's shards hold.
    assert count_rows(resolve_source({"source": str(mirror)})) == 12

    # A rerun finds everything in place: nothing downloaded again, checksums verified again.
    fake_hub.gets.clear()
    again, _ = download(tmp_path, env, "--to", str(mirror))
    assert again.returncode == 0, again.stderr
    assert not [g for g in fake_hub.gets if g.endswith(".parquet")]


def test_download_refuses_a_file_that_does_not_match_the_hub_checksum(fake_hub, tmp_path):
    env = hub_env(tmp_path, HF_ENDPOINT=fake_hub.url)
    mirror = tmp_path / "mirror"
    bad = sorted(p for p in fake_hub.files if p.endswith(".parquet"))[1]
    data = bytearray(fake_hub.files[bad])
    data[len(data) // 2] ^= 0xFF  # same size: only a checksum tells
    fake_hub.served[bad] = bytes(data)
    result, _ = download(tmp_path, env, "--to", str(mirror))
    out = assert_clear_failure(result, 0, bad, "sha256", hashlib.sha256(fake_hub.files[bad]).hexdigest(),
                               "Rerun to download them again")
    assert "dvc exp run" not in result.stdout, out
    assert not (mirror / bad).exists()  # removed: the pipeline never reads it
    assert not (mirror / "azasr_mirror.json").exists()

    fake_hub.served[bad] = fake_hub.files[bad]  # the hub serves it right again: a rerun repairs the mirror
    again, _ = download(tmp_path, env, "--to", str(mirror))
    assert again.returncode == 0, again.stderr
    assert (mirror / bad).read_bytes() == fake_hub.files[bad]


def test_download_refuses_stray_parquet_files(fake_hub, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "old").mkdir(parents=True)
    (mirror / "old" / "train-old.parquet").write_bytes(b"PAR1")
    result, _ = download(tmp_path, hub_env(tmp_path, HF_ENDPOINT=fake_hub.url), "--to", str(mirror))
    assert_clear_failure(result, 0, "old/train-old.parquet", "remove them or choose another --to")
    assert not fake_hub.gets


def test_card_num_rows_and_redact(monkeypatch):
    from types import SimpleNamespace

    from azasr.hub import card_num_rows, redact

    card = {"dataset_info": [{"config_name": "default", "splits": [{"name": "train", "num_examples": 351019}]}]}
    assert card_num_rows(SimpleNamespace(card_data=card), "train") == 351019
    assert card_num_rows(SimpleNamespace(card_data=card), "test") is None
    assert card_num_rows(SimpleNamespace(card_data=None), "train") is None
    monkeypatch.setenv("HF_TOKEN", "abcdef123456")
    assert redact("token abcdef123456 and hf_XyZ1234567 via http://u:p@proxy:3128") == \
        "token *** and hf_*** via http://***@proxy:3128"


def test_endpoint_credentials_are_redacted_and_plain_http_with_a_token_refused(fake_hub, full_repo, tmp_path):
    """Credentials in HF_ENDPOINT appear in no output or file (the mirror manifest included); a plain
    http:// endpoint off this machine is refused while a token is set, before any connection."""
    password = "pw-SECRETish-9"
    env = hub_env(tmp_path, HF_ENDPOINT=fake_hub.url.replace("http://", f"http://mirror-user:{password}@"))
    mirror = tmp_path / "mirror"
    result, _ = download(tmp_path, env, "--to", str(mirror))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert password not in out and SECRET not in out
    for f in tmp_path.rglob("*"):
        assert not f.is_file() or password.encode() not in f.read_bytes(), f
    assert json.loads((mirror / "azasr_mirror.json").read_text())["endpoint"].startswith("http://***@127.0.0.1:")

    remote = hub_env(tmp_path, HF_ENDPOINT=f"http://mirror-user:{password}@hub.example.invalid")
    for result, seconds in (download(tmp_path, remote, "--to", str(tmp_path / "m2")), prepare(full_repo, remote)):
        out = assert_clear_failure(result, seconds, "plain http:// while a hub token is set")
        assert password not in out and len(out.strip().splitlines()) == 1, out
