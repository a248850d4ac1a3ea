"""Seed stage 4: schema and per-row checks; rejected rows are recorded with their reasons."""

from azasr import PipelineError
from azasr.io import write_json
from azasr.stage import experiment_path, run_stage
from azasr.validate import Limits, run_validate


def main(params):
    limits = Limits.from_params(params["validate"])
    report = run_validate("data/prepared", "data/validated", limits)
    write_json(experiment_path(params, "outputs", "validation.json"), report)
    if report["rejected_fraction"] > limits.max_rejected_fraction:
        raise PipelineError(
            f"{report['rejected']} of {report['total']} rows rejected ({report['rejected_fraction']:.1%}), "
            f"more than validate.max_rejected_fraction={limits.max_rejected_fraction:.1%}; "
            f"reasons: {report['reasons']} (every rejected row is listed in the validation report)"
        )
    return {k: report[k] for k in ("total", "accepted", "rejected", "reasons")}


if __name__ == "__main__":
    run_stage("validate", main)
