"""Packing, label masking, the seeded sampler, metrics, and the GA loss scale."""

import numpy as np
import pytest
import torch

from azasr.augment import NO_AUGMENT
from azasr.collate import SpeechCollator, pack_windows
from azasr.metrics import error_rates
from azasr.model import load_model, resolve_model
from azasr.train import SeededLengthGroupedSampler, history_rows
from conftest import audio_bytes, tone


@pytest.fixture(scope="module")
def processor():
    return load_model(resolve_model("tiny-random-whisper"))[1]


def rows(seconds, texts=None):
    texts = texts or [f"cümlə nömrə {i}" for i in range(len(seconds))]
    return [{"audio": {"bytes": audio_bytes(tone(s)), "path": "x"}, "text": t} for s, t in zip(seconds, texts)]


def test_pack_windows_respects_window_and_token_budget():
    groups = pack_windows([10, 10, 10, 25, 5], [1, 1, 1, 1, 1], window=30, gap=1, max_tokens=100)
    assert sorted(i for g in groups for i in g) == [0, 1, 2, 3, 4]
    for g in groups:
        assert sum([10, 10, 10, 25, 5][i] for i in g) + (len(g) - 1) <= 30
    assert len(pack_windows([1] * 6, [10] * 6, window=100, gap=0, max_tokens=25)) == 3


def test_packing_puts_short_clips_in_one_window(processor):
    batch = SpeechCollator(processor, pack=True)(rows([2.0, 3.0, 2.5, 1.0]))
    assert batch["input_features"].shape == (1, 80, 3000)
    assert int(batch["num_clips"]) == 4
    text = processor.tokenizer.decode(batch["labels"][0][batch["labels"][0] >= 0], skip_special_tokens=True)
    assert all(f"cümlə nömrə {i}" in text for i in range(4))


def test_labels_mask_padding_but_keep_eos(processor):
    batch = SpeechCollator(processor, pack=False)(rows([1.0, 1.0], ["bir", "bir iki üç dörd beş altı"]))
    labels = batch["labels"]
    eos = processor.tokenizer.eos_token_id
    start = processor.tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    assert labels.shape[0] == 2 and (labels[:, 0] != start).all()   # decoder start is added by the model
    short = labels[0]
    assert (short == -100).any() and short[short >= 0][-1] == eos     # padded, real eos kept
    assert labels[1][-1] == eos and not (labels[1] == -100).any()
    assert labels[0][0] == processor.tokenizer.convert_tokens_to_ids("<|az|>")


def test_sampler_is_deterministic_per_epoch_and_groups_lengths():
    durations = np.random.default_rng(0).uniform(0.5, 10, 400).tolist()
    sampler = SeededLengthGroupedSampler(durations, step=16, seed=42, group_steps=4)
    tagged = list(sampler)
    assert {epoch for epoch, _ in tagged} == {0}
    first = [i for _, i in tagged]
    assert sorted(first) == list(range(400)) and tagged == list(sampler)
    sampler.set_epoch(1)
    assert [i for _, i in sampler] != first and {epoch for epoch, _ in sampler} == {1}
    steps = [[durations[i] for i in first[k:k + 16]] for k in range(0, 400, 16)]
    assert all(step == sorted(step, reverse=True) for step in steps[:-1])
    # Steps are shuffled: the epoch does not run from long clips to short ones.
    means = [np.mean(step) for step in steps[:24]]
    assert means != sorted(means, reverse=True)


def test_error_rates_normalized_and_raw():
    rates = error_rates(["Salam, necəsən?", "İlham gəldi."], ["salam necəsən", "ilham gəldi"])
    assert rates["wer"] == 0 and rates["cer"] == 0 and rates["wer_raw"] > 0


def test_history_rows_split_train_and_eval():
    log = [{"loss": 2.0, "learning_rate": 1e-4, "grad_norm": 3.0, "clips_per_second": 5.0, "epoch": 0.5, "step": 1},
           {"eval_loss": 1.5, "eval_wer": 0.7, "eval_cer": 0.3, "epoch": 0.5, "step": 1}]
    train, evals = history_rows(log)
    assert train[0]["loss"] == 2.0 and evals[0]["wer"] == 0.7 and evals[0]["validation_loss"] == 1.5


def test_augmented_batches_depend_on_epoch_not_on_order(processor):
    from azasr.augment import Augmenter
    from azasr.train import EpochRows

    data = [{**row, "id": f"clip-{i}"} for i, row in enumerate(rows([2.0, 3.0, 2.5, 1.0]))]
    tagged = EpochRows(data)
    collate = SpeechCollator(processor, pack=True, augment=Augmenter(seed=5, speeds=(0.9, 1.1), noise_prob=1.0))
    first = collate([tagged[(0, i)] for i in range(4)])["input_features"]
    assert torch.equal(first, collate([tagged[(0, i)] for i in range(4)])["input_features"])
    assert not torch.equal(first, collate([tagged[(1, i)] for i in range(4)])["input_features"])
    plain = SpeechCollator(processor, pack=True)([tagged[(0, i)] for i in range(4)])["input_features"]
    assert not torch.equal(first, plain)


def test_validation_only_at_the_end_keeps_epoch_checkpoints_and_frozen_encoder(tmp_path):
    """evals_per_epoch 0: one validation pass, after the last step, with a checkpoint per epoch
    still written for resuming; freeze_encoder: the encoder's weights do not move, the decoder's do."""
    import datasets

    from azasr.decode import TokenBudget
    from azasr.train import TrainConfig, build_trainer

    model, processor = load_model(resolve_model("tiny-random-whisper"))
    model.config.use_cache = False
    clips = datasets.Dataset.from_list([{**row, "id": f"clip{i}", "duration": 1.0}
                                        for i, row in enumerate(rows([1.0] * 8))])
    config = TrainConfig(batch_size=2, gradient_accumulation_steps=2, learning_rate=1e-3, warmup_steps=0, epochs=2,
                         weight_decay=0.0, max_grad_norm=1.0, lr_scheduler="linear", pack=True, pack_gap_s=0.2,
                         eval_batch_size=4, evals_per_epoch=0, save_total_limit=5, precision="fp32",
                         gradient_checkpointing=False, torch_compile=False, freeze_encoder=True,
                         dataloader_workers=0, seed=42, augment=NO_AUGMENT)
    encoder_before = {k: v.clone() for k, v in model.model.encoder.state_dict().items()}
    decoder_before = {k: v.clone() for k, v in model.model.decoder.state_dict().items()}
    trainer = build_trainer(model, processor, clips, clips.select(range(2)), config,
                            checkpoint_dir=str(tmp_path), device="cpu", world_size=1, callbacks=[],
                            token_budget=TokenBudget.from_corpus([5] * 8, [1.0] * 8))
    trainer.train()

    _, evals = history_rows(trainer.state.log_history)
    assert [e["step"] for e in evals] == [4]
    assert trainer.state.best_metric == evals[0]["wer"]
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert all(torch.equal(encoder_before[k], v) for k, v in trainer.model.model.encoder.state_dict().items())
    assert not all(torch.equal(decoder_before[k], v) for k, v in trainer.model.model.decoder.state_dict().items())
