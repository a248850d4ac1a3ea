"""A DVC remote round trip over a real protocol: moto's standalone S3 server on 127.0.0.1 (the
endpoint DVC's own S3 tests use). A finished run is pushed; a fresh clone pulls it, `dvc status`
is clean, `dvc repro` runs nothing, and the pulled model loads with `pipeline()`."""

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import assert_up_to_date, run_in, stages_run

BUCKET = "azasr-team"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_endpoint():
    """moto's S3 server on a free loopback port, stopped when the test ends."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)  # DVC reads them from the environment; nothing is written to config
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


def pushed_bytes(endpoint: str) -> tuple[int, int]:
    import boto3

    pages = boto3.client("s3", endpoint_url=endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    sizes = [obj["Size"] for page in pages for obj in page.get("Contents", [])]
    return len(sizes), sum(sizes)


@pytest.mark.slow
def test_push_then_a_fresh_clone_pulls_an_up_to_date_pipeline(reference_run, s3_endpoint, tmp_path):
    origin = tmp_path / "origin"
    shutil.copytree(reference_run, origin, symlinks=True)
    run_in(origin, "dvc", "remote", "add", "-d", "storage", f"s3://{BUCKET}/store")
    run_in(origin, "dvc", "remote", "modify", "storage", "endpointurl", s3_endpoint)
    git(origin, "add", ".dvc/config", "dvc.lock")
    git(origin, "commit", "-qm", "run and remote")
    run_in(origin, "dvc", "push")
    objects, size = pushed_bytes(s3_endpoint)
    print(f"\npushed {objects} objects, {size / 2**20:.1f} MiB")
    assert objects > 0

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    run_in(clone, "dvc", "pull")
    assert_up_to_date(clone)
    repro = run_in(clone, "dvc", "repro")
    assert stages_run(repro.stdout) == [], repro.stdout
    assert not (clone / "data" / "checkpoints").exists()  # machine-local resume state, never pushed

    code = ("import pyarrow.parquet as pq\n"
            "from transformers import pipeline\n"
            "from azasr.audio import load_16k\n"
            "asr = pipeline('automatic-speech-recognition', model='artifacts/az_whisper_final')\n"
            "row = pq.read_table('data/split/test.parquet').slice(0, 1).to_pylist()[0]\n"
            "print(type(asr({'raw': load_16k(row['audio']['bytes']), 'sampling_rate': 16000})['text']).__name__)\n")
    assert run_in(clone, "python", "-c", code).stdout.strip().splitlines()[-1] == "str"
