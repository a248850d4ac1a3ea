"""Greedy Whisper decoding that drops each clip from the batch as soon as it ends.

transformers' generate() keeps every row of a batch until the last one ends, and each decoder
step reads the cached cross-attention keys and values of every row (1,500 frames per layer). On a
CPU that memory traffic is most of a decoder step, so a batch that holds one long or looping
hypothesis pays for all of its rows until that one stops. This loop makes the same choices as
generate() with Whisper's greedy settings (the language/task prompt, `suppress_tokens` at every
step, `begin_suppress_tokens` at the first) but shrinks the batch and the cache as rows end.
tests/test_evaluate.py checks its tokens against generate().
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from .tokens import PROMPT_TOKENS, text_token_counts


@dataclass(frozen=True)
class TokenBudget:
    """How many new tokens a clip may get, from its audio alone: a bound on tokens per second of
    speech times the clip's duration, with a margin, within Whisper's 448 positions.

    The rate is the densest clip of the training split (its text tokens over its duration), never
    a reference of the clips being decoded, so a hypothesis cannot depend on its reference. A
    hypothesis that reaches its budget without an end token is a runaway (a loop): decoding stops
    it and counts it.
    """

    tokens_per_second: float
    margin: float = 1.25
    extra_tokens: int = 8

    LIMIT = 448 - PROMPT_TOKENS
    WINDOW_S = 30.0

    @classmethod
    def from_corpus(cls, text_tokens: list[int], durations: list[float]) -> "TokenBudget":
        rates = [t / max(d, 0.5) for t, d in zip(text_tokens, durations)]
        return cls(tokens_per_second=round(max(rates, default=cls.LIMIT / cls.WINDOW_S), 3))

    @classmethod
    def from_generation_config(cls, config) -> "TokenBudget | None":
        rule = getattr(config, "token_budget", None)
        return cls(**rule) if isinstance(rule, dict) else None

    @classmethod
    def of_split(cls, path) -> "TokenBudget":
        """The budget measured on a split parquet (text, duration): the training split's."""
        import pyarrow.parquet as pq

        table = pq.read_table(path, columns=["text", "duration"])
        return cls.from_corpus(text_token_counts(table["text"].to_pylist()), table["duration"].to_pylist())

    def apply_to(self, generation_config) -> None:
        """Carry the rule in a model's generation config: `token_budget` for decoders that know
        the audio's length (ours), `max_new_tokens` of a full window for `pipeline()`."""
        generation_config.token_budget = self.as_dict()
        generation_config.max_length = None
        generation_config.max_new_tokens = self.for_window()

    def as_dict(self) -> dict:
        return {"tokens_per_second": self.tokens_per_second, "margin": self.margin, "extra_tokens": self.extra_tokens}

    def for_duration(self, seconds: float) -> int:
        seconds = min(max(float(seconds), 0.0), self.WINDOW_S)
        return int(min(self.LIMIT, math.ceil(self.tokens_per_second * self.margin * seconds) + self.extra_tokens))

    def for_window(self) -> int:
        """The budget of a full 30-s window: what a `pipeline()` user's generation config carries."""
        return self.for_duration(self.WINDOW_S)


def whisper_prompt(config) -> list[int]:
    """start-of-transcript, language, task, no-timestamps: the prompt generate() builds from a
    generation config with `language` and `task` set (model.set_language_task)."""
    return [config.decoder_start_token_id, config.lang_to_id[f"<|{config.language}|>"],
            config.task_to_id[config.task], config.no_timestamps_token_id]


@dataclass
class Decoded:
    tokens: torch.Tensor     # (batch, 4 + longest budget): prompt, greedy tokens, end-of-text padding
    runaway: torch.Tensor    # (batch,) bool: the row reached its budget without an end token


@torch.no_grad()  # not inference_mode: the trainer's evaluation loop pads and gathers the result
def greedy_decode(model, encoder_hidden: torch.Tensor, budgets: list[int]) -> Decoded:
    """Greedy decoding of a WhisperForConditionalGeneration given its encoder's output, each row
    stopping at its end token or its own token budget (`TokenBudget.for_duration` of its audio),
    so a row's tokens depend neither on its reference nor on the other rows of the batch."""
    config = model.generation_config
    prompt = whisper_prompt(config)
    eos = config.eos_token_id
    batch, device = encoder_hidden.shape[0], encoder_hidden.device
    if len(budgets) != batch:
        raise ValueError(f"{len(budgets)} token budgets for a batch of {batch}")
    suppress = torch.zeros(model.proj_out.out_features, dtype=torch.bool, device=device)
    suppress[list(config.suppress_tokens or [])] = True
    suppress_first = suppress.clone()
    suppress_first[list(config.begin_suppress_tokens or [])] = True

    limit = torch.tensor(budgets, dtype=torch.long, device=device)
    prompt_ids = torch.tensor([prompt], device=device).expand(batch, -1)
    out = torch.full((batch, max(budgets)), eos, dtype=torch.long, device=device)
    runaway = torch.zeros(batch, dtype=torch.bool, device=device)
    rows = torch.arange(batch, device=device)    # the batch's rows, as rows of `out`
    ended = limit <= 0
    row_limit = limit
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    ids = prompt_ids
    for step in range(max(budgets)):
        hidden = model.model.decoder(input_ids=ids, encoder_hidden_states=encoder_hidden,
                                     cache=cache, use_cache=True).last_hidden_state
        logits = model.proj_out(hidden[:, -1]).float()
        logits.masked_fill_(suppress_first if step == 0 else suppress, float("-inf"))
        next_ids = logits.argmax(-1).masked_fill_(ended, eos)
        out[rows, step] = next_ids
        out_of_budget = ~ended & (next_ids != eos) & (row_limit <= step + 1)
        runaway[rows[out_of_budget]] = True
        ended |= (next_ids == eos) | out_of_budget
        if bool(ended.all()):
            break
        # Dropping rows copies the whole cache, so wait until half the batch has ended: at most
        # log2(batch) copies, and ended rows never cost more than the rows still going.
        if 2 * int(ended.sum()) >= len(ended):
            keep = (~ended).nonzero().squeeze(1)
            rows, next_ids, encoder_hidden = rows[keep], next_ids[keep], encoder_hidden[keep]
            ended, row_limit = ended[keep], row_limit[keep]
            cache.batch_select_indices(keep)
        ids = next_ids[:, None]
    return Decoded(torch.cat([prompt_ids, out], dim=1), runaway)
