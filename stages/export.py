"""Seed stage 12: artifacts/<experiment>_final, a directory `pipeline()` loads offline, with the
experiment's metadata and a model card."""

from pathlib import Path

from azasr.env import git_commit, package_versions
from azasr.decode import TokenBudget
from azasr.export import check_card, model_card, without_local_paths
from azasr.io import atomic_dir, read_json, write_json, write_text
from azasr.model import check_model_dir, copy_model_files
from azasr.params import mode_name
from azasr.stage import experiment_path, run_stage


def main(params):
    from transformers import GenerationConfig

    out = experiment_path(params, "artifacts", "final")
    results = {name: read_json(experiment_path(params, "outputs", f"{name}_results.json"))
               for name in ("validation", "test")}
    split_info = read_json(experiment_path(params, "outputs", "split_info.json"))
    train_summary = read_json("data/trained/training_summary.json")
    # The token budget fine-tuning measured on the training split: `pipeline()` users get its
    # full-window cap as max_new_tokens, the rule itself travels as `token_budget`.
    budget = TokenBudget.from_generation_config(GenerationConfig.from_pretrained("data/trained"))
    cap = budget.for_window()
    metadata = {
        "experiment": params["experiment"]["name"],
        "mode": mode_name(params),
        "params": {k: v for k, v in params.items() if k != "presets"},
        "git": git_commit(),
        "base_model": read_json(experiment_path(params, "outputs", "model_info.json")),
        "data": {
            "source": str(params["data"]["source"]),
            "validation": {k: v for k, v in read_json(experiment_path(params, "outputs", "validation.json")).items()
                           if k != "rejected_rows"},
            "split": split_info,
        },
        "training": train_summary,
        "metrics": results,
        "packages": package_versions(),
        "generation": {"max_new_tokens": cap, "token_budget": budget.as_dict(), "num_beams": 1,
                       "language": "az", "task": "transcribe"},
    }
    metadata = without_local_paths(metadata)  # published: no absolute local paths, no credentials
    with atomic_dir(out) as tmp:
        copy_model_files(Path("data/trained"), tmp)
        (tmp / "training_summary.json").unlink(missing_ok=True)
        generation = GenerationConfig.from_pretrained(tmp)
        budget.apply_to(generation)
        generation.return_timestamps = False
        generation.save_pretrained(tmp)
        write_json(tmp / "experiment_metadata.json", metadata)
        write_text(tmp / "README.md", model_card(
            experiment=params["experiment"]["name"], base_model=metadata["base_model"]["name"],
            test=results["test"], validation=results["validation"], split_info=split_info,
            train_summary=train_summary, mode=metadata["mode"], data_source=metadata["data"]["source"],
            dataset_id=params["data"]["hub_dataset"],
        ))
        check_card((tmp / "README.md").read_text(encoding="utf-8"))
        check_model_dir(tmp)
    return {"artifact": str(out), "max_new_tokens": cap}


if __name__ == "__main__":
    run_stage("export", main)
