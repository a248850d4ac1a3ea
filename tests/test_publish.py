"""The model card (huggingface_hub's ModelCard / ModelCardData / EvalResult) and `azasr push`
against a local stand-in for the hub's model endpoints (plain HTTP on 127.0.0.1, the real
huggingface_hub upload code on the client side, HF_ENDPOINT), as tests/test_hub.py does for datasets."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from test_hub import SECRET, hub_env

from azasr import PipelineError
from azasr.export import SAMPLE_CORPUS_ID, check_card, model_card

REPO = Path(__file__).resolve().parents[1]
SCORES = {"wer": 0.36, "cer": 0.07, "wer_raw": 0.42, "cer_raw": 0.08, "clips": 50,
          "by_duration": {"0-2 s": {"clips": 10, "wer": 0.5, "cer": 0.1}}}


def card(mode: str, data_source: str = "data/sample") -> str:
    return model_card(experiment="x", base_model="openai/whisper-base", test={**SCORES, "zero_shot": SCORES},
                      validation=SCORES, split_info={"test": {"clips": 50, "hours": 0.05}},
                      train_summary={"global_steps": 25, "best_validation_wer": 0.39}, mode=mode,
                      data_source=data_source, dataset_id="LocalDoc/azerbaijani_asr")


@pytest.mark.parametrize("mode", ["sample", "full"])
def test_card_is_built_and_read_back_by_huggingface_hub(mode):
    from huggingface_hub import ModelCard

    text = card(mode, "/home/someone/mirror" if mode == "full" else "data/sample")
    check_card(text)
    data = ModelCard(text).data
    assert data.language == ["az"] and data.pipeline_tag == "automatic-speech-recognition"
    assert data.base_model == "openai/whisper-base"
    results = {r.metric_type: r for r in data.eval_results}
    assert results["wer"].metric_value == 36.0 and results["cer"].metric_value == 7.0
    assert results["wer"].dataset_split == "test"
    if mode == "full":
        assert data.license == "cc-by-nc-4.0" and data.datasets == ["LocalDoc/azerbaijani_asr"]
        assert results["wer"].dataset_type == "LocalDoc/azerbaijani_asr"
    else:
        assert data.license == "apache-2.0" and not data.datasets
        assert results["wer"].dataset_type == SAMPLE_CORPUS_ID and "synthetic" in results["wer"].dataset_name
        assert "Sample mode" in text
    assert "cc-by-nc-4.0" in text and "/home/someone" not in text and "data/sample" not in data.to_yaml()


def test_check_card_refuses_missing_metadata_and_local_datasets(tmp_path):
    with pytest.raises(PipelineError, match="license missing"):
        check_card("---\nlanguage: az\n---\n# card\n")
    bad = card("full").replace("LocalDoc/azerbaijani_asr", str(tmp_path))
    with pytest.raises(PipelineError, match="local path"):
        check_card(bad)


class FakeModelHub(ThreadingHTTPServer):
    """The endpoints `azasr push` uses: validate-yaml, repos/create, preupload (every file
    "regular": sent inline in the commit), commit. Stores what was committed."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.auth: set[str] = set()
        self.validated: list[str] = []
        self.created: list[dict] = []
        self.files: dict[str, bytes] = {}
        self.unknown: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeModelHub

    def log_message(self, *args):
        pass

    def _json(self, obj, status: int = 200) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_POST(self):
        hub = self.server
        if self.headers.get("Authorization"):
            hub.auth.add(self.headers["Authorization"])
        path = unquote(urlsplit(self.path).path)
        body = self._body()
        if path == "/api/validate-yaml":
            hub.validated.append(json.loads(body)["content"])
            return self._json({})
        if path == "/api/repos/create":
            request = json.loads(body)
            hub.created.append(request)
            repo_id = "/".join(p for p in (request.get("organization"), request["name"]) if p)
            return self._json({"url": f"{hub.url}/{repo_id}"})
        if "/preupload/" in path:
            files = json.loads(body)["files"]
            return self._json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                         for f in files]})
        if "/commit/" in path:
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item.get("key") == "file":
                    value = item["value"]
                    hub.files[value["path"]] = base64.b64decode(value["content"])
            repo_id = path.removeprefix("/api/models/").split("/commit/")[0]
            return self._json({"commitUrl": f"{hub.url}/{repo_id}/commit/{'1' * 40}", "commitOid": "1" * 40,
                               "success": True})
        hub.unknown.append(f"POST {path}")
        self._json({"error": "not found"}, 404)

    def do_GET(self):
        self.server.unknown.append(f"GET {self.path}")
        self._json({"error": "not found"}, 404)


@pytest.fixture
def fake_model_hub():
    hub = FakeModelHub()
    thread = threading.Thread(target=hub.serve_forever, daemon=True)
    thread.start()
    yield hub
    hub.shutdown()
    hub.server_close()


@pytest.fixture
def export_dir(tmp_path):
    """A small stand-in export: configs, a weights file and the card (push uploads what is there)."""
    out = tmp_path / "az_whisper_final"
    out.mkdir()
    for name in ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json"):
        (out / name).write_text("{}\n")
    (out / "model.safetensors").write_bytes(b"\0" * 4096)
    (out / "experiment_metadata.json").write_text("{}\n")
    (out / "README.md").write_text(card("sample"), encoding="utf-8")
    return out


def push(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "azasr", "push", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_push_publishes_the_export_with_the_token_from_the_environment(fake_model_hub, export_dir, tmp_path):
    env = hub_env(tmp_path, HF_ENDPOINT=fake_model_hub.url)
    result = push(tmp_path, env, "--repo", "someone/az-whisper", "--model", str(export_dir))
    out = result.stdout + result.stderr
    assert result.returncode == 0, (out, fake_model_hub.unknown)
    assert SECRET not in out and "Traceback" not in out
    assert f"Bearer {SECRET}" in fake_model_hub.auth
    assert fake_model_hub.created and fake_model_hub.created[0]["name"] == "az-whisper"
    assert fake_model_hub.validated and "license: apache-2.0" in fake_model_hub.validated[0]
    assert fake_model_hub.files["README.md"] == (export_dir / "README.md").read_bytes()
    assert fake_model_hub.files["model.safetensors"] == (export_dir / "model.safetensors").read_bytes()
    assert set(fake_model_hub.files) == {p.name for p in export_dir.iterdir()}
    for f in tmp_path.rglob("*"):
        assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f


def test_push_without_a_token_fails_in_one_line(export_dir, tmp_path):
    env = {k: v for k, v in hub_env(tmp_path).items() if k != "HF_TOKEN"}
    result = push(tmp_path, env, "--repo", "someone/az-whisper", "--model", str(export_dir))
    assert result.returncode == 2
    assert result.stderr.startswith("azasr: error: set HF_TOKEN") and len(result.stderr.strip().splitlines()) == 1
