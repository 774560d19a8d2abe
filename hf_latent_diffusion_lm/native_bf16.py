"""Whether the machine multiplies bfloat16 natively: the one test behind bf16 training (``--mixed-precision auto``)
and bf16 decoding (``ldlm sample --dtype auto``). Where it does not (a CPU without avx512_bf16 or AMX), bf16 is
emulated and runs several times slower than float32, so ``auto`` keeps float32 there."""

from __future__ import annotations

import torch


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (avx512_bf16 or AMX), where bf16 steps run ~2-3x faster."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = info.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def has_native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` (a CUDA GPU or this CPU) runs bfloat16 matmuls natively."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_bf16()


DECODING_DTYPES = ("auto", "float32", "bfloat16")


def decoding_dtype(choice: str, device: torch.device | str) -> tuple[torch.dtype, str]:
    """The dtype the frozen decoder writes records in for ``choice`` (``"auto"``: bfloat16 where ``device`` runs it
    natively, else float32), and why, in words (``ldlm sample`` reports it before sampling)."""
    if choice not in DECODING_DTYPES:
        raise ValueError(f"dtype must be one of {DECODING_DTYPES}, got {choice!r}.")
    if choice != "auto":
        return getattr(torch, choice), "as asked"
    if has_native_bf16(device):
        return torch.bfloat16, f"{torch.device(device).type} multiplies bfloat16 natively"
    reason = "this CPU has no native bfloat16 (avx512_bf16 or AMX)" if torch.device(device).type == "cpu" else \
        "this device has no native bfloat16"
    return torch.float32, reason
