"""Seed stage 10: score the fine-tuned model on validation and test, and the zero-shot starting
model on the same test clips, so the gain shows side by side."""

import pandas as pd

from azasr.data import load_split
from azasr.env import choose_device
from azasr.evaluate import prediction_rows, score, transcribe
from azasr.io import write_csv, write_json
from azasr.model import load_model, resolve_model
from azasr.stage import experiment_path, run_stage
from azasr.precision import for_inference, resolve_precision


def decode(resolved, splits, batch_size, device, precision):
    model, processor = load_model(resolved)
    model = for_inference(model.to(device), precision)
    return {name: transcribe(model, processor, ds, batch_size, f"{name} ({resolved.source})")
            for name, ds in splits.items()}


def main(params):
    section = params["evaluate"]
    device = choose_device()
    precision = resolve_precision(section["precision"], device, inference=True)
    validation, test = load_split("data/split/validation.parquet"), load_split("data/split/test.parquet")
    tuned = decode(resolve_model("data/trained"), {"validation": validation, "test": test},
                   section["batch_size"], device, precision)
    base = resolve_model(params["model"]["name"])
    zero_shot = decode(base, {"test": test}, section["batch_size"], device, precision)["test"]

    model = {"fine_tuned": "data/trained", "base_model": base.name, "precision": precision}
    write_json(experiment_path(params, "outputs", "validation_results.json"),
               {"split": "validation", **model, **score(tuned["validation"])})
    test_scores, zero_shot_scores = score(tuned["test"]), score(zero_shot)
    write_json(experiment_path(params, "outputs", "test_results.json"), {
        "split": "test", **model, **test_scores,
        "zero_shot": zero_shot_scores,
        "wer_reduction": round(1 - test_scores["wer"] / zero_shot_scores["wer"], 4) if zero_shot_scores["wer"] else None,
    })
    write_csv(experiment_path(params, "outputs", "sample_predictions.csv"),
              pd.DataFrame(prediction_rows(tuned["test"], zero_shot)))
    return {"test_wer": test_scores["wer"], "zero_shot_test_wer": zero_shot_scores["wer"]}


if __name__ == "__main__":
    run_stage("evaluate", main)
