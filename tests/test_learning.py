"""Training learns: the real offline whisper-base, through the train stage's own trainer, lowers
its loss on a handful of embedded clips within a few optimizer steps. Every other training test
uses the tiny random model, which would not notice a trainer that stopped learning."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from azasr.collate import SpeechCollator
from azasr.data import load_split
from azasr.decode import TokenBudget
from azasr.model import load_model, resolve_model
from azasr.tokens import text_token_counts
from azasr.train import TrainConfig, build_trainer

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CLIPS = 8


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    table = pq.read_table(sorted(SAMPLE.glob("*.parquet"))[0]).replace_schema_metadata(None)
    table = table.sort_by("duration").slice(100, CLIPS)  # short clips: one packed window
    table = table.append_column("id", pa.array([f"clip{i}" for i in range(CLIPS)]))
    path = tmp_path_factory.mktemp("learning") / "train.parquet"
    pq.write_table(table.select(["id", "audio", "text", "duration"]), path)
    return load_split(path)


@torch.no_grad()
def mean_loss(model, processor, dataset) -> float:
    model.eval()
    batch = SpeechCollator(processor, pack=False)(dataset.to_list())
    return float(model(input_features=batch["input_features"], labels=batch["labels"]).loss)


def test_a_few_steps_of_whisper_base_lower_the_loss_on_their_clips(clips, tmp_path):
    model, processor = load_model(resolve_model("openai/whisper-base"))
    before = mean_loss(model, processor, clips)
    config = TrainConfig(batch_size=CLIPS, gradient_accumulation_steps=1, learning_rate=2e-4, warmup_steps=1,
                         epochs=5, weight_decay=0.0, max_grad_norm=1.0, lr_scheduler="constant_with_warmup",
                         pack=True, pack_gap_s=0.2, eval_batch_size=CLIPS, evals_per_epoch=1, save_total_limit=1,
                         precision="fp32", gradient_checkpointing=False, torch_compile=False,
                         dataloader_workers=0, seed=42,
                         augment={"speeds": [1.0], "noise_prob": 0.0, "noise_snr_db": [10.0, 30.0],
                                  "mask_time_prob": 0.0, "mask_feature_prob": 0.0})
    budget = TokenBudget.from_corpus(text_token_counts(clips["text"]), clips["duration"])
    model.config.use_cache = False
    trainer = build_trainer(model, processor, clips, clips.select(range(2)), config,
                            checkpoint_dir=str(tmp_path / "checkpoints"), device="cpu", world_size=1,
                            callbacks=[], token_budget=budget)
    # What this test measures is the loss on the training clips: validation passes and checkpoints
    # (tested elsewhere) would only cost time here.
    trainer.args.eval_strategy = trainer.args.save_strategy = "no"
    trainer.args.load_best_model_at_end = False
    trainer.callback_handler.callbacks = [c for c in trainer.callback_handler.callbacks
                                          if type(c).__name__ != "_EvaluateAtEnd"]
    trainer.train()
    after = mean_loss(trainer.model, processor, clips)
    assert trainer.state.global_step == 5
    assert after <= 0.7 * before, f"loss {before:.3f} → {after:.3f}: training did not learn"
