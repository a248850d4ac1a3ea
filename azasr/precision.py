"""Numeric precision for training and inference, chosen from the hardware when `auto`."""

from __future__ import annotations

import torch

from . import PipelineError


def cpu_has_amx() -> bool:
    """Intel AMX: bf16 matrix units that make bf16 autocast about twice as fast as fp32 on CPU
    (without them bf16 on a CPU is slower than fp32)."""
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(check and check())


def resolve_precision(precision: str, device: str) -> str:
    """fp32 | bf16 | fp16. auto: bf16 (fp16 without bf16) on CUDA, bf16 on CPUs with AMX, else fp32."""
    if precision == "auto":
        if device == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device == "cpu" and cpu_has_amx() else "fp32"
    if precision not in ("fp32", "bf16", "fp16"):
        raise PipelineError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp16" and device != "cuda":
        raise PipelineError("precision fp16 needs a CUDA GPU; use bf16 or fp32 on this device")
    return precision


def autocast(precision: str, device: str):
    """Mixed precision for inference (weights stay fp32), like the Trainer's bf16/fp16 training."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None)
