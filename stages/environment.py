"""Seed stages 1–2: record the resolved configuration and the hardware."""

from azasr.env import device_info, git_commit, package_versions
from azasr.io import write_json
from azasr.params import mode_name
from azasr.stage import experiment_path, run_stage


def main(params):
    write_json(experiment_path(params, "outputs", "config.json"), {
        "mode": mode_name(params),
        "params": {k: v for k, v in params.items() if k != "presets"},
        "git": git_commit(),
        "packages": package_versions(),
    })
    info = device_info()
    write_json(experiment_path(params, "outputs", "device_info.json"), info)
    return {"chosen_device": info["chosen_device"]}


if __name__ == "__main__":
    run_stage("environment", main)
