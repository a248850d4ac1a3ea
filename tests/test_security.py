"""Security rules: no remote code, TLS always verified, no pickle, hub tokens never written, and
every installed package pinned by hash.

Covered elsewhere, not repeated here: pickle-only model directories and hub snapshots are refused
(tests/test_model.py::test_refuses_pickle_weights, ::test_hub_cache_is_used_and_pickle_snapshots_refused);
an audio blob over data.max_audio_bytes is refused (tests/test_validate.py::
test_audio_over_the_size_limit_is_refused, and through the prepare stage in tests/test_bad_input.py);
hostile audio paths are never opened (tests/test_bad_input.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, copy_repo, run_in

# Built by concatenation so that this file does not match a plain grep for them.
EQ = r"\s*=\s*"
FORBIDDEN = {
    "remote code": re.compile("trust_remote_code" + EQ + "True"),
    "TLS verification off": re.compile("verify" + EQ + "False"),
    "hub TLS verification off": re.compile("HF_HUB_DISABLE" + "_SSL_VERIFY"),
    "Python TLS verification off": re.compile("PYTHONHTTPS" + "VERIFY"),
    "unverified TLS context": re.compile(r"_create_unverified" + "_context|CERT" + "_NONE"),
    "pip trusting a host": re.compile("--trusted" + "-host"),
    "pickle torch.load": re.compile("weights_only" + EQ + "False"),
    "pickle": re.compile(r"\b(?:c?pickle|dill|joblib)\.load" + "s?" + r"\s*\("),
}
SCANNED = ("azasr", "stages", "bench", "tools")
HF_TOKEN_LIKE = re.compile("hf" + "_[A-Za-z0-9]{30,}")


def violations(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for rule, pattern in FORBIDDEN.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{number}: "
                                 f"{rule}: {line.strip()}")
    return found


def source_files() -> list[Path]:
    """The project's own files (git-tracked or not ignored), not scratch copies under bench/work/."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", *SCANNED], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    files = [REPO / p for p in listed if Path(p).suffix in (".py", ".sh", ".toml", ".yaml", ".cfg")]
    return files + [REPO / name for name in ("Makefile", "dvc.yaml", "params.yaml", "pyproject.toml")
                    if (REPO / name).exists()]


def test_no_source_file_disables_a_safeguard():
    files = source_files()
    assert any(p.name == "model.py" for p in files)  # the scan sees the library
    assert violations(files) == []


def test_the_scan_catches_each_rule(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("\n".join([
        # Each sample is split so that greps over the repository do not flag this file itself.
        "m = AutoModel.from_pretrained(n, trust_remote" + "_code = True)",
        "requests.get(url, verify" + "=False)",
        "os.environ['HF_HUB_DISABLE" + "_SSL_VERIFY'] = '1'",
        "os.environ['PYTHONHTTPS" + "VERIFY'] = '0'",
        "ctx = ssl._create_unverified" + "_context()",
        "# pip install --trusted" + "-host example.org x",
        "torch.load(f, weights" + "_only=False)",
        "obj = pickle" + ".loads(blob)",
    ]) + "\n")
    found = violations([bad])
    assert [f.split(": ")[1] for f in found] == list(FORBIDDEN)


def test_no_hub_token_is_committed():
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    leaks = [name for name in files
             if (REPO / name).is_file() and (REPO / name).stat().st_size < 2**20
             and HF_TOKEN_LIKE.search((REPO / name).read_text(encoding="utf-8", errors="ignore"))]
    assert leaks == []


def test_hub_token_is_never_written_or_printed(tmp_path):
    token = "hf_SECRETtest123"
    repo = copy_repo(tmp_path / "repo", {"experiment": {"name": "tok"}})
    result = run_in(repo, "env", f"HF_TOKEN={token}", f"HUGGING_FACE_HUB_TOKEN={token}",
                    "python", "-m", "stages.environment", timeout=300)
    assert (repo / "outputs" / "tok_config.json").is_file()     # the stage did write its outputs
    assert token not in result.stdout and token not in result.stderr
    written = [p for top in ("outputs", "artifacts", "data") if (repo / top).exists()
               for p in (repo / top).rglob("*") if p.is_file()]
    assert written
    assert [p for p in written if token.encode() in p.read_bytes()] == []


def lock_entries(path: Path) -> list[str]:
    """A pip requirements file as one string per requirement (continuations joined)."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-test.lock"])
def test_lock_pins_every_package_by_version_and_hash(lock):
    entries = lock_entries(REPO / lock)
    assert entries
    pinned = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+"
                        r"( --hash=sha256:[0-9a-f]{64})+$")
    assert [e for e in entries if not pinned.match(e)] == []


# The test environment is both locks (`make test` installs requirements.lock, then the test lock,
# which leaves out what the first already pins).
@pytest.mark.parametrize("direct,locks", [("requirements.txt", ["requirements.lock"]),
                                          ("requirements-test.txt", ["requirements.lock", "requirements-test.lock"])])
def test_every_direct_dependency_is_locked_at_its_pin(direct, locks):
    def canonical(entry):
        name, _, version = entry.split()[0].partition("==")
        name = name.split("[")[0]  # moto[server]: the extras' packages are locked on their own
        return re.sub(r"[-_.]+", "-", name).lower(), version.split("+")[0]  # ==2.1 matches 2.1+cpu (PEP 440)

    locked = dict(canonical(e) for lock in locks for e in lock_entries(REPO / lock))
    wanted = dict(canonical(e) for e in lock_entries(REPO / direct))
    assert {n: v for n, v in wanted.items() if locked.get(n) != v} == {}


def test_makefile_installs_only_hash_checked_locks():
    installs = [" ".join(line.split()) for line in (REPO / "Makefile").read_text().splitlines()
                if re.search(r"\bpip install\b", line)]
    # $(LOCK) is requirements.lock or requirements-cuda.lock, chosen by nvidia-smi (tests/test_torch_choice.py).
    from_locks = [line for line in installs if re.search(r"-r (requirements[\w-]*\.lock|\$\(LOCK\))", line)]
    assert {re.search(r"-r (\S+)", line).group(1) for line in from_locks} == {"$(LOCK)", "requirements-test.lock"}
    assert all("--require-hashes" in line for line in from_locks), from_locks
    # Anything else installs only this project itself, pulling nothing from an index.
    others = [line for line in installs if line not in from_locks]
    assert all("--no-deps" in line and line.endswith("--editable .") for line in others), others
