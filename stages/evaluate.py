"""Seed stage 10: score the fine-tuned model on validation and test, beside the zero-shot
baseline of the same test clips (the zero_shot stage's output)."""

import pandas as pd

from azasr.augment import NoisyCopy
from azasr.data import load_split
from azasr.env import choose_device
from azasr.evaluate import decode_splits, prediction_rows, score
from azasr.io import read_json, write_csv, write_json
from azasr.model import resolve_model
from azasr.precision import resolve_precision
from azasr.stage import experiment_path, run_stage


def main(params):
    section = params["evaluate"]
    device = choose_device()
    precision = resolve_precision(section["precision"], device, inference=True)
    splits = {name: load_split(f"data/split/{name}.parquet") for name in ("validation", "test")}
    splits["test_noisy"] = splits["test"]
    noisy = NoisyCopy.from_params(section)
    tuned = decode_splits(resolve_model("data/trained"), splits, section["batch_size"], device, precision,
                          perturb={"test_noisy": noisy})

    model = {"fine_tuned": "data/trained", "precision": precision}
    write_json(experiment_path(params, "outputs", "validation_results.json"),
               {"split": "validation", **model, **score(tuned["validation"])})
    test_scores = score(tuned["test"])
    test_scores["noisy"] = {"snr_db": list(noisy.snr_db), "noise": "pink or brown, per clip", "seed": noisy.seed,
                            **score(tuned["test_noisy"])}
    zero_shot = read_json(experiment_path(params, "outputs", "zero_shot_results.json"))
    write_json(experiment_path(params, "outputs", "test_results.json"), {
        "split": "test", **model, **test_scores,
        "zero_shot": zero_shot,
        "wer_reduction": round(1 - test_scores["wer"] / zero_shot["wer"], 4) if zero_shot["wer"] else None,
    })
    rows = pd.DataFrame(prediction_rows(tuned["test"]))
    baseline = pd.read_csv(experiment_path(params, "outputs", "zero_shot_predictions.csv"),
                           keep_default_na=False, dtype={"id": str})
    baseline = baseline[["id", "hypothesis", "wer"]].rename(
        columns={"hypothesis": "zero_shot_hypothesis", "wer": "zero_shot_wer"})
    write_csv(experiment_path(params, "outputs", "sample_predictions.csv"), rows.merge(baseline, on="id", how="left"))
    return {"test_wer": test_scores["wer"], "test_noisy_wer": test_scores["noisy"]["wer"],
            "runaway": test_scores["runaway"]}


if __name__ == "__main__":
    run_stage("evaluate", main)
