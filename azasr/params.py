"""params.yaml → resolved, validated settings.

A section value of `auto` is replaced by the preset of the current mode
(`presets.sample.<section>.<key>` or `presets.full.<section>.<key>`), so one flag,
`mode.sample`, switches everything while any explicit value still wins. An `auto` with no preset
is left for the stage to settle from the hardware (precision, workers, processes).

The resolved parameters are then checked against the schema below (pydantic), before any stage
does work: every key, its type and range. **This schema is the one place where parameters are
declared**: a new key or section goes into its class here, or every stage refuses params.yaml
with an error that names the key and this file. Unknown keys (typos such as
`train.learnig_rate`) are refused, with the nearest known key suggested.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveFloat,
                      PositiveInt, ValidationError, model_validator)

from . import PipelineError

DEFAULT_PATH = Path("params.yaml")
# Written by the `params` stage: params.yaml with every `auto` settled and the presets dropped. Every
# other stage declares in dvc.yaml the keys it reads from it, so `dvc exp show` lists the values a
# run used, and editing the other mode's presets reruns nothing downstream.
RESOLVED_PATH = Path("outputs/params.yaml")


def load_params(path: str | Path = DEFAULT_PATH) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path} not found: run stages from the repository root") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path} is not valid YAML: {exc}") from None
    return validate(resolve(raw), path)


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


# --------------------------------------------------------------------------------------------------
# The schema of the resolved parameters (after `auto` took the current mode's preset).

Auto = Literal["auto"]  # settled by the stage from the hardware
SCHEMA_FILE = "azasr/params.py"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModeParams(Section):
    sample: bool


class ExperimentParams(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a prefix of file names


class DataParams(Section):
    source: str = Field(min_length=1)
    hub_dataset: str
    hub_split: str
    sample_size: PositiveInt
    shard_size: PositiveInt
    workers: PositiveInt | Auto
    max_audio_bytes: PositiveInt


class ValidateParams(Section):
    min_duration_s: NonNegativeFloat
    max_duration_s: PositiveFloat
    duration_tolerance_s: NonNegativeFloat
    silence_peak_dbfs: float = Field(le=0)
    max_label_tokens: PositiveInt = Field(le=448)
    max_rejected_fraction: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_duration_s >= self.max_duration_s:
            raise ValueError(f"min_duration_s ({self.min_duration_s}) must be below max_duration_s ({self.max_duration_s})")
        return self


class SplitParams(Section):
    train: NonNegativeFloat
    validation: NonNegativeFloat
    test: NonNegativeFloat
    seed: int

    @model_validator(mode="after")
    def _sum_to_one(self):
        total = self.train + self.validation + self.test
        if abs(total - 1) > 1e-6:
            raise ValueError(f"train + validation + test must sum to 1, they sum to {total:g}")
        return self


class ModelParams(Section):
    name: str = Field(min_length=1)


class AugmentParams(Section):
    speeds: list[PositiveFloat] = Field(min_length=1)
    noise_prob: float = Field(ge=0, le=1)
    noise_snr_db: tuple[float, float]
    mask_time_prob: float = Field(ge=0, le=1)
    mask_feature_prob: float = Field(ge=0, le=1)


class TrainParams(Section):
    batch_size: PositiveInt
    gradient_accumulation_steps: PositiveInt
    learning_rate: PositiveFloat
    warmup_steps: NonNegativeInt
    epochs: PositiveInt
    weight_decay: NonNegativeFloat
    max_grad_norm: PositiveFloat
    lr_scheduler: str
    pack: bool
    pack_gap_s: NonNegativeFloat
    eval_batch_size: PositiveInt
    evals_per_epoch: NonNegativeInt | Auto
    save_total_limit: PositiveInt
    precision: Literal["auto", "fp32", "bf16", "fp16"]
    gradient_checkpointing: bool
    torch_compile: bool
    freeze_encoder: bool
    dataloader_workers: NonNegativeInt | Auto
    processes: PositiveInt | Auto
    augment: AugmentParams


class EvaluateParams(Section):
    batch_size: PositiveInt
    precision: Literal["auto", "fp32", "bf16", "fp16", "bf16-encoder"]
    noise_snr_db: tuple[float, float]
    noise_seed: NonNegativeInt


class InferenceParams(Section):
    clips: PositiveInt


class CT2ExportParams(Section):
    quantization: Literal["int8", "int8_float32", "int8_float16", "float16", "bfloat16", "float32"]


class Params(Section):
    mode: ModeParams
    experiment: ExperimentParams
    seed: int
    data: DataParams
    validate_: ValidateParams = Field(alias="validate")  # `validate` is a BaseModel method name
    split: SplitParams
    model: ModelParams
    train: TrainParams
    evaluate: EvaluateParams
    inference: InferenceParams
    ct2_export: CT2ExportParams
    presets: dict[str, Any]  # checked through the values they give after resolution


def validate(params: dict[str, Any], path: str | Path = DEFAULT_PATH) -> dict[str, Any]:
    """`params` checked against the schema, with YAML's loose scalars (`1e-4` is a string to YAML
    1.1) coerced to their declared types; one PipelineError naming every problem and where to fix it."""
    try:
        checked = Params.model_validate(params)
    except ValidationError as exc:
        problems = {}
        for error in exc.errors():  # a union (`8 | auto`) fails once per member: keep the first reason
            key, text = _describe(error)
            problems.setdefault(key, text)
        raise PipelineError(f"{path}: {'; '.join(problems.values())}") from None
    return checked.model_dump(by_alias=True)


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
    loc = [part for part in loc if part not in ("int", "float", "bool", "str") and not part.startswith(("literal[", "constrained-"))]
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = list(_field_names(model))
        near = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f" (did you mean {'.'.join([*loc[:-1], near[0]])}?)" if near else ""
        return key, (f"unknown key {key}{hint}; every key is declared in {SCHEMA_FILE} (class {model.__name__}): "
                     "add a new one there")
    if error["type"] == "missing":
        return key, f"{key} is missing (declared in {SCHEMA_FILE}, class {_model_at(loc[:-1]).__name__})"
    if error["type"] == "value_error":
        return key, f"{key}: {error['msg'].removeprefix('Value error, ')}"
    return key, f"{key}: {error['msg']} (got {error['input']!r})"


def _field_names(model: type[BaseModel]):
    for name, field in model.model_fields.items():
        yield field.alias or name


def _model_at(loc: list[str]) -> type[BaseModel]:
    model: type[BaseModel] = Params
    for part in loc:
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            break
        model = field.annotation
    return model
