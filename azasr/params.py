"""params.yaml → resolved settings.

A section value of `auto` is replaced by the preset of the current mode
(`presets.sample.<section>.<key>` or `presets.full.<section>.<key>`), so one flag,
`mode.sample`, switches everything while any explicit value still wins. An `auto` with no preset
is left for the stage to settle from the hardware (precision, workers, processes).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from . import PipelineError

DEFAULT_PATH = Path("params.yaml")
# Written by the `params` stage: params.yaml with every `auto` settled and the presets dropped. Every
# other stage reads this file and declares in dvc.yaml the keys it reads from it, so `dvc exp show`
# lists the values a run used, and editing the other mode's presets reruns nothing downstream.
RESOLVED_PATH = Path("outputs/params.yaml")


def load_params(path: str | Path = DEFAULT_PATH) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path} not found: run stages from the repository root") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path} is not valid YAML: {exc}") from None
    return resolve(raw)


def load_resolved(path: str | Path = RESOLVED_PATH) -> dict[str, Any]:
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path} not found: run `dvc repro` (its `params` stage writes it)") from None


def effective(params: dict[str, Any]) -> dict[str, Any]:
    """The resolved settings without the presets they came from."""
    return {k: v for k, v in params.items() if k != "presets"}


def mode_name(params: dict[str, Any]) -> str:
    return "sample" if params["mode"]["sample"] else "full"


def resolve(raw: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `raw` with every `auto` replaced by the current mode's preset."""
    params = copy.deepcopy(raw)
    sample = params.get("mode", {}).get("sample")
    if not isinstance(sample, bool):
        raise PipelineError(f"mode.sample must be true or false, got {sample!r}")
    preset = params.get("presets", {}).get(mode_name(params), {})
    for section, values in params.items():
        if section == "presets" or not isinstance(values, dict):
            continue
        for key, value in values.items():
            if value == "auto" and key in (preset.get(section) or {}):
                values[key] = preset[section][key]
    return params
