"""`auto` values take the current mode's preset; explicit values win."""

import pytest
import yaml

from azasr import PipelineError
from azasr.params import resolve
from conftest import REPO


def raw(sample: bool, **train):
    return {
        "mode": {"sample": sample},
        "model": {"name": "auto"},
        "train": {"epochs": "auto", "precision": "auto", **train},
        "presets": {"sample": {"model": {"name": "openai/whisper-base"}, "train": {"epochs": 1}},
                    "full": {"model": {"name": "openai/whisper-small"}, "train": {"epochs": 3}}},
    }


@pytest.mark.parametrize("sample,model,epochs", [(True, "openai/whisper-base", 1), (False, "openai/whisper-small", 3)])
def test_one_flag_switches_presets(sample, model, epochs):
    params = resolve(raw(sample))
    assert params["model"]["name"] == model and params["train"]["epochs"] == epochs


def test_explicit_value_wins_and_hardware_autos_stay():
    params = resolve(raw(False, epochs=7))
    assert params["train"]["epochs"] == 7
    assert params["train"]["precision"] == "auto"   # no preset: the stage decides from the hardware


def test_mode_must_be_boolean():
    with pytest.raises(PipelineError):
        resolve({"mode": {"sample": "yes"}})


def test_repository_params_resolve_in_both_modes():
    raw_params = yaml.safe_load((REPO / "params.yaml").read_text())
    sample = resolve(raw_params)
    assert sample["mode"]["sample"] is True
    assert (sample["data"]["source"], sample["model"]["name"], sample["train"]["epochs"]) == ("data/sample", "openai/whisper-base", 2)
    raw_params["mode"]["sample"] = False
    full = resolve(raw_params)
    assert (full["data"]["source"], full["model"]["name"]) == ("hub", "openai/whisper-small")
    assert (full["train"]["epochs"], full["train"]["learning_rate"], full["train"]["warmup_steps"]) == (3, 1e-5, 500)
    assert (full["train"]["batch_size"], full["train"]["gradient_accumulation_steps"], full["seed"]) == (8, 2, 42)


def test_repository_params_pass_the_schema_in_both_modes():
    from azasr.params import validate

    raw_params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert validate(resolve(raw_params))["train"]["learning_rate"] == 2e-4
    raw_params["mode"]["sample"] = False
    assert validate(resolve(raw_params))["train"]["learning_rate"] == 1e-5


@pytest.mark.parametrize("where,key,message", [
    ("train", "learnig_rate", "unknown key train.learnig_rate (did you mean train.learning_rate?); every key is "
                              "declared in azasr/params.py (class TrainParams): add a new one there"),
    ("augment", "speed", "unknown key augment; every key is declared in azasr/params.py (class Params)"),
])
def test_an_undeclared_key_names_the_schema_to_edit(where, key, message):
    from azasr.params import validate

    raw_params = yaml.safe_load((REPO / "params.yaml").read_text())
    raw_params.setdefault(where, {})[key] = 1
    with pytest.raises(PipelineError) as error:
        validate(resolve(raw_params))
    assert message in str(error.value)


def test_yaml_loose_numbers_are_coerced():
    from azasr.params import validate

    raw_params = yaml.safe_load((REPO / "params.yaml").read_text())
    raw_params["train"]["learning_rate"] = "3e-4"   # YAML 1.1 reads `3e-4` (no dot) as a string
    assert validate(resolve(raw_params))["train"]["learning_rate"] == 3e-4
