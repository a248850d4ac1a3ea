"""The zero-shot baseline: the base model, before any fine-tuning, on the test split.

Its own stage because it depends on neither training nor its parameters: an experiment that
changes the learning rate does not decode the test split with the base model again."""

import pandas as pd

from azasr.data import load_split
from azasr.decode import TokenBudget
from azasr.env import choose_device
from azasr.evaluate import decode_splits, prediction_rows, score
from azasr.io import write_csv, write_json
from azasr.model import resolve_model
from azasr.precision import resolve_precision
from azasr.stage import experiment_path, run_stage


def main(params):
    section = params["evaluate"]
    device = choose_device()
    precision = resolve_precision(section["precision"], device, inference=True)
    base = resolve_model(params["model"]["name"])
    # The base model carries no budget of its own: the one fine-tuning gives (train split's rate).
    budget = TokenBudget.of_split("data/split/train.parquet")
    test = decode_splits(base, {"test": load_split("data/split/test.parquet")}, section["batch_size"],
                         device, precision, budget)["test"]
    scores = score(test)
    write_json(experiment_path(params, "outputs", "zero_shot_results.json"),
               {"split": "test", "model": base.name, "precision": precision, "token_budget": budget.as_dict(), **scores})
    write_csv(experiment_path(params, "outputs", "zero_shot_predictions.csv"), pd.DataFrame(prediction_rows(test)))
    return {"zero_shot_test_wer": scores["wer"], "runaway": scores["runaway"]}


if __name__ == "__main__":
    run_stage("zero_shot", main)
