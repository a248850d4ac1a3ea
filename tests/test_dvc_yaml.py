"""dvc.yaml tells the whole truth about what each stage reads: every project module its script
imports (directly or through other modules) is a dependency, and every parameter its code reads is
a declared parameter. Derived from the code, so a new import or parameter cannot be forgotten."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "azasr"


def dvc_stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _imported_modules(path: Path) -> set[Path]:
    """Project modules (files) that `path` imports anywhere in its body, lazy imports included."""
    found = set()
    package = path.parent.relative_to(REPO).parts
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = [*base, *(node.module.split(".") if node.module else [])]
            # `from azasr import x` may name a module azasr/x.py or a name in azasr/__init__.py.
            names = [".".join(module)] + [".".join([*module, alias.name]) for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != PACKAGE:
                continue
            candidate = REPO.joinpath(*parts)
            if candidate.with_suffix(".py").is_file():
                found.add(candidate.with_suffix(".py"))
            elif (candidate / "__init__.py").is_file():
                found.add(candidate / "__init__.py")
    return found


def module_closure(script: Path) -> set[str]:
    """The script and every project module reachable through its imports, as repo-relative paths."""
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += _imported_modules(path)
        # Importing azasr.x runs azasr/__init__.py first.
        if path.parent.name == PACKAGE:
            todo.append(path.parent / "__init__.py")
    return {str(p.relative_to(REPO)) for p in seen}


def stage_script(stage: dict) -> Path:
    match = re.search(r"python -m (stages\.\w+)", stage["cmd"])
    assert match, f"cannot find the stage script in {stage['cmd']!r}"
    return REPO / (match.group(1).replace(".", "/") + ".py")


@pytest.mark.parametrize("name", sorted(dvc_stages()))
def test_every_imported_project_module_is_a_dependency(name):
    stage = dvc_stages()[name]
    deps = {str(d) for d in stage.get("deps", [])}
    missing = sorted(module_closure(stage_script(stage)) - deps)
    assert not missing, f"dvc.yaml stage {name!r} reads code it does not declare; add to its deps: {missing}"


def test_closure_follows_relative_and_lazy_imports():
    closure = module_closure(REPO / "stages" / "train.py")
    # stages/train.py imports azasr.train lazily, which imports .decode, which imports .tokens.
    assert {"azasr/train.py", "azasr/decode.py", "azasr/tokens.py", "azasr/__init__.py"} <= closure


def declared_params(stage: dict) -> dict[str, list[str] | None]:
    """{params file: [declared keys]} (None: the whole file)."""
    files: dict[str, list[str] | None] = {}
    for entry in stage.get("params", []):
        if isinstance(entry, str):
            files.setdefault("params.yaml", []).append(entry)
        else:
            for file, keys in entry.items():
                files[file] = None if not keys else [*(files.get(file) or []), *keys]
    return files


def covered(key: str, declared: list[str] | None) -> bool:
    return declared is None or any(key == d or key.startswith(d + ".") for d in declared)


def check_params_trace(trace: Path) -> None:
    """Each (stage, key) a stage's code read (tests record them with AZASR_PARAMS_TRACE) must be
    declared by that stage in dvc.yaml, from outputs/params.yaml."""
    stages = dvc_stages()
    missing: dict[str, set[str]] = {}
    read_by: dict[str, set[str]] = {}
    for line in trace.read_text().splitlines():
        name, key = line.split("\t")
        read_by.setdefault(name, set()).add(key)
        declared = declared_params(stages[name]).get("outputs/params.yaml", [])
        if not covered(key, declared):
            missing.setdefault(name, set()).add(key)
    assert read_by, "no stage recorded the parameters it read"
    assert not missing, f"stages read parameters dvc.yaml does not declare: { {k: sorted(v) for k, v in missing.items()} }"


def test_every_parameter_a_stage_reads_is_declared(reference_run):
    check_params_trace(reference_run.parent / "params_trace.txt")


def test_tracked_params_record_leaves_read():
    from azasr.stage import TrackedParams

    seen: set[str] = set()
    params = TrackedParams({"train": {"lr": 1, "epochs": 2}, "mode": {"sample": True}, "seed": 3}, seen)
    assert params["mode"]["sample"] and params.get("seed") == 3
    dict(params["train"].items())
    assert seen == {"mode.sample", "seed", "train.lr", "train.epochs"}
