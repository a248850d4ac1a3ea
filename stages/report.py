"""Seed stages 11 and 14: training charts, the results chart and outputs/<experiment>_summary.md."""

import pandas as pd

from azasr.io import read_json, write_json, write_text
from azasr.params import mode_name
from azasr.report import headline_metrics, plot_loss, plot_overview, plot_results, plot_wer, summary_markdown
from azasr.stage import STAGE_METRICS_DIR, experiment_path, run_stage

CHARTS = ("duration_distribution", "text_length_distribution", "letter_frequency", "training_loss_curve",
          "validation_wer_curve", "training_overview", "results_summary")
# The params stage only settles values (milliseconds); its wall time would make every params rerun
# look like a change to the report.
TIMED = ("environment", "prepare", "validate", "eda", "split", "model", "train", "zero_shot", "evaluate",
         "export", "inference")


def main(params):
    def output(suffix):
        return experiment_path(params, "outputs", suffix)

    train = pd.read_csv(output("training_history.csv"))
    evals = pd.read_csv(output("eval_history.csv"))
    test = read_json(output("test_results.json"))
    plot_loss(train, evals, "charts/training_loss_curve.png")
    plot_wer(evals, "charts/validation_wer_curve.png", test["zero_shot"]["wer"])
    plot_overview(train, evals, "charts/training_overview.png")
    plot_results(test, "charts/results_summary.png")

    timings = {s: read_json(STAGE_METRICS_DIR / f"{s}.json") for s in TIMED}
    validation = read_json(output("validation_results.json"))
    training = read_json("data/trained/training_summary.json")
    write_json(output("metrics.json"), headline_metrics(test, validation, timings["train"], training))

    predictions = pd.read_csv(output("sample_predictions.csv"), keep_default_na=False)
    write_text(output("summary.md"), summary_markdown({
        "experiment": params["experiment"]["name"],
        "mode": mode_name(params),
        "base_model": read_json(output("model_info.json"))["name"],
        "data_source": params["data"]["source"],
        "data_validation": read_json(output("validation.json")),
        "split": read_json(output("split_info.json")),
        "training": {**training, "train_runtime_s": timings["train"]["train_runtime_s"]},
        "test": test,
        "validation": validation,
        "inference": read_json(output("inference_test.json")),
        "examples": predictions.sample(n=min(8, len(predictions)), random_state=params["seed"]).to_dict("records"),
        "timings": timings,
        "charts": [f"charts/{c}.png" for c in CHARTS],
        "artifact": str(experiment_path(params, "artifacts", "final")),
    }))
    return None


if __name__ == "__main__":
    run_stage("report", main)
