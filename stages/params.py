"""Settle params.yaml into outputs/params.yaml: every `auto` replaced by the current mode's preset,
the presets dropped. The other stages declare in dvc.yaml the keys they read from it, so DVC
tracks the values they use."""

import yaml

from azasr.io import write_text
from azasr.params import RESOLVED_PATH
from azasr.stage import run_stage


def main(params):
    write_text(RESOLVED_PATH, yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


if __name__ == "__main__":
    run_stage("params", main, traced=False)
