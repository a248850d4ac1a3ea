"""Numeric precision for training and inference, chosen from the hardware when `auto`."""

from __future__ import annotations

import torch

from . import PipelineError


def resolve_precision(precision: str, device: str) -> str:
    """fp32 | bf16 | fp16. auto: bf16 on CUDA (fp16 where bf16 is missing), fp32 elsewhere.

    On a CPU, fp32 keeps runs bit-for-bit reproducible. bf16 is about twice as fast on CPUs with
    Intel AMX and can be asked for, but its results then vary slightly from run to run.
    """
    if precision == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision not in ("fp32", "bf16", "fp16"):
        raise PipelineError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp16" and device != "cuda":
        raise PipelineError("precision fp16 needs a CUDA GPU; use bf16 or fp32 on this device")
    return precision


def autocast(precision: str, device: str):
    """Mixed precision for inference (weights stay fp32), like the Trainer's bf16/fp16 training."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None)
