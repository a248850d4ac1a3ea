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

import torch
from transformers.cache_utils import DynamicCache, EncoderDecoderCache


def token_cap(reference_lengths: list[int], prompt_tokens: int = 4) -> int:
    """max_new_tokens for a batch: the longest reference plus a margin, within Whisper's limit."""
    longest = max(reference_lengths) - prompt_tokens
    return int(min(448 - prompt_tokens, math.ceil(longest * 1.25) + 8))


def whisper_prompt(config) -> list[int]:
    """start-of-transcript, language, task, no-timestamps: the prompt generate() builds from a
    generation config with `language` and `task` set (model.set_language_task)."""
    return [config.decoder_start_token_id, config.lang_to_id[f"<|{config.language}|>"],
            config.task_to_id[config.task], config.no_timestamps_token_id]


@torch.no_grad()  # not inference_mode: the trainer's evaluation loop pads and gathers the result
def greedy_decode(model, encoder_hidden: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Token ids (batch, 4 + max_new_tokens) of a WhisperForConditionalGeneration given its
    encoder's output: the prompt, the greedy tokens, then end-of-text to the end (as generate()
    pads its finished rows)."""
    config = model.generation_config
    prompt = whisper_prompt(config)
    eos = config.eos_token_id
    batch, device = encoder_hidden.shape[0], encoder_hidden.device
    suppress = torch.zeros(model.proj_out.out_features, dtype=torch.bool, device=device)
    suppress[list(config.suppress_tokens or [])] = True
    suppress_first = suppress.clone()
    suppress_first[list(config.begin_suppress_tokens or [])] = True

    prompt_ids = torch.tensor([prompt], device=device).expand(batch, -1)
    out = torch.full((batch, max_new_tokens), eos, dtype=torch.long, device=device)
    rows = torch.arange(batch, device=device)    # the batch's rows, as rows of `out`
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    ids = prompt_ids
    for step in range(max_new_tokens):
        hidden = model.model.decoder(input_ids=ids, encoder_hidden_states=encoder_hidden,
                                     cache=cache, use_cache=True).last_hidden_state
        logits = model.proj_out(hidden[:, -1]).float()
        logits.masked_fill_(suppress_first if step == 0 else suppress, float("-inf"))
        next_ids = logits.argmax(-1).masked_fill_(ended, eos)
        out[rows, step] = next_ids
        ended |= next_ids == eos
        if bool(ended.all()):
            break
        # Dropping rows copies the whole cache, so wait until half the batch has ended: at most
        # log2(batch) copies, and ended rows never cost more than the rows still going.
        if 2 * int(ended.sum()) >= len(ended):
            keep = (~ended).nonzero().squeeze(1)
            rows, next_ids, encoder_hidden, ended = rows[keep], next_ids[keep], encoder_hidden[keep], ended[keep]
            cache.batch_select_indices(keep)
        ids = next_ids[:, None]
    return torch.cat([prompt_ids, out], dim=1)
