"""Seed stage 6: leak-free 80/10/10 split grouped by normalized transcript and audio."""

from azasr.io import write_json
from azasr.split import SPLITS, run_split
from azasr.stage import experiment_path, run_stage


def main(params):
    section = params["split"]
    info = run_split("data/validated", "data/split", {s: section[s] for s in SPLITS}, section["seed"])
    write_json(experiment_path(params, "outputs", "split_info.json"), info)
    return {s: info[s]["clips"] for s in SPLITS}


if __name__ == "__main__":
    run_stage("split", main)
