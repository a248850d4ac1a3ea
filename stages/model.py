"""Seed stage 7: resolve the pretrained Whisper (local dir, hub cache, or the offline conversion)
and record what it is. Later stages resolve the same name from the cache in well under a second."""

from azasr.io import write_json
from azasr.model import model_info, resolve_model
from azasr.stage import experiment_path, run_stage


def main(params):
    resolved = resolve_model(params["model"]["name"])
    info = model_info(resolved)
    write_json(experiment_path(params, "outputs", "model_info.json"), info)
    return {"model": info["name"], "total_parameters": info["total_parameters"]}


if __name__ == "__main__":
    run_stage("model", main)
