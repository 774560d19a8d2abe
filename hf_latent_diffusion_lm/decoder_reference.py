"""How a saved pipeline names its frozen decoder instead of copying it, like a PEFT adapter names its base model.

A reference holds what is needed to load the decoder again (Hub id or path, revision, GGUF file, dtype) and a
fingerprint of its weights, so that a pipeline loaded against a different decoder fails with a clear error instead
of writing garbage: the injector was trained for one decoder's embedding space.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)

PROBE_SIZE = 32  # weights kept as numbers: equal up to rounding for one model loaded in any float dtype
SAMPLE_SIZE = 64  # elements read from each tensor (strided over all of it)


class DecoderMismatchError(ValueError):
    """The decoder does not match the one the VAE and pipeline were trained against."""


def base_model(decoder):
    """The model under a PEFT wrapper (or ``decoder`` itself): what a reference describes."""
    return decoder.get_base_model() if hasattr(decoder, "get_base_model") else decoder


def _base_weights(decoder):
    """Parameters of the base model by their plain names (PEFT's ``base_layer`` folded away, adapters skipped)."""
    for name, parameter in base_model(decoder).named_parameters():
        if "lora_" not in name:
            yield name.replace(".base_layer", ""), parameter


@torch.no_grad()
def weight_fingerprint(decoder) -> tuple[str, list[float]]:
    """A hash of a strided sample of every base weight (rounded to bfloat16, so float32 and bfloat16 loads of
    one checkpoint agree), and a few of the sampled weights themselves, compared with a tolerance when only the
    precision differs (e.g. a float16 load)."""
    digest, samples = hashlib.sha256(), []
    for name, parameter in sorted(_base_weights(decoder), key=lambda item: item[0]):
        flat = parameter.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // SAMPLE_SIZE)][:SAMPLE_SIZE].to("cpu", torch.float32)
        digest.update(name.encode())
        digest.update(sample.to(torch.bfloat16).view(torch.int16).numpy().tobytes())
        samples.append(sample)
    values = torch.cat(samples)
    probe = values[:: max(1, len(values) // PROBE_SIZE)][:PROBE_SIZE]
    return digest.hexdigest()[:16], [float(f"{value:.6g}") for value in probe.tolist()]


@dataclass
class DecoderReference:
    """Where the frozen decoder comes from and what its weights look like.

    Args:
        name_or_path: Hub id (preferred, portable) or local directory of the ``AutoModelForCausalLM``.
        revision: Hub revision (branch, tag or commit); for the built-in tiny decoder, its seed.
        gguf_file: GGUF file inside ``name_or_path``, if the weights are GGUF.
        dtype: the dtype the decoder is loaded in by default.
        fingerprint: hash of a sample of the weights (see :func:`weight_fingerprint`).
        probe: coarse weight sums, compared with a tolerance when the hash differs by precision alone.
        num_layers: keep only the first ``num_layers`` transformer layers of the loaded model (``None``: all); a
            shallow frozen LM trains and samples several times faster on a CPU.
    """

    name_or_path: str
    revision: str | None = None
    gguf_file: str | None = None
    dtype: str = "float32"
    fingerprint: str | None = None
    probe: list[float] = field(default_factory=list)
    num_layers: int | None = None

    @classmethod
    def of(cls, decoder, name_or_path: str | None = None, **fields) -> "DecoderReference":
        """A reference to ``decoder``, named ``name_or_path`` (default: the name it was loaded from)."""
        name = name_or_path or getattr(base_model(decoder).config, "_name_or_path", "") or "unknown"
        if os.path.isdir(name):
            name = os.path.abspath(name)
        fingerprint, probe = weight_fingerprint(decoder)
        dtype = str(next(base_model(decoder).parameters()).dtype).removeprefix("torch.")
        return cls(name_or_path=name, dtype=dtype, fingerprint=fingerprint, probe=probe, **fields)

    def describe(self) -> str:
        """The reference in words, for error messages and model cards."""
        extras = [f"{key} {value}" for key, value in (("revision", self.revision), ("GGUF", self.gguf_file),
                                                      ("first layers", self.num_layers)) if value]
        return self.name_or_path + (f" ({', '.join(extras)})" if extras else "")

    def matches(self, decoder) -> bool:
        """Whether ``decoder`` has the weights this reference was taken from (any float precision)."""
        fingerprint, probe = weight_fingerprint(decoder)
        if self.fingerprint is None or fingerprint == self.fingerprint:
            return True
        scale = sum(map(abs, self.probe)) / max(len(self.probe), 1)
        return len(probe) == len(self.probe) and all(
            math.isclose(a, b, rel_tol=1e-2, abs_tol=1e-3 * scale) for a, b in zip(probe, self.probe))

    def check(self, decoder, strict: bool = True) -> bool:
        """Whether ``decoder`` is the referenced one; when it is not, raise :class:`DecoderMismatchError`
        (``strict``) or warn and return ``False``."""
        if self.matches(decoder):
            return True
        actual = DecoderReference.of(decoder)
        message = (f"The decoder given ({actual.describe()}, weight fingerprint {actual.fingerprint}) is not the one "
                   f"this pipeline was trained against ({self.describe()}, weight fingerprint {self.fingerprint}); "
                   "its latents would steer another model's embeddings and produce garbage.")
        if strict:
            raise DecoderMismatchError(message + " Pass the right decoder, or strict=False to swap it deliberately.")
        logger.warning(message + " Using it anyway (strict=False).")
        return False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "DecoderReference":
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"Unknown decoder reference field(s) {sorted(unknown)}.")
        return cls(**values)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DecoderReference":
        return cls.from_dict(json.loads(Path(path).read_text()))
