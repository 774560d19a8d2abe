"""The ``transformers.pipeline("latent-text-generation", model=dir)`` task over a saved diffusion pipeline.

transformers' ``pipeline()`` reads ``config.json`` at the root of ``dir`` (``LatentDiffusionLMPipeline.save_pretrained``
writes the VAE's config there), then asks the task's model class to load the directory; that class hands back the
whole :class:`LatentDiffusionLMPipeline`, which this thin ``Pipeline`` calls.
"""

from __future__ import annotations

import torch
from transformers import Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from ..data.record_validity import checked_records
from .pipeline_latent_diffusion_lm import LatentDiffusionLMPipeline

TASK = "latent-text-generation"


class LatentDiffusionLMTaskLoader:
    """What transformers' ``pipeline()`` calls its model class: ``from_pretrained`` returns a saved
    :class:`LatentDiffusionLMPipeline` (a diffusers pipeline, not a ``PreTrainedModel``), which the task then runs."""

    @classmethod
    def from_pretrained(cls, path: str, dtype=None, **kwargs) -> LatentDiffusionLMPipeline:
        dtype = None if dtype in (None, "auto") else dtype
        return LatentDiffusionLMPipeline.from_pretrained(path, dtype=dtype or torch.float32)


class LatentTextGenerationPipeline(Pipeline):
    """Samples records: ``generator(num_samples=8)`` -> ``[{"generated_text": ..., "record": ...}, ...]``.

    Keyword arguments are those of :meth:`LatentDiffusionLMPipeline.__call__`.
    """

    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_processor = False

    def __init__(self, model: LatentDiffusionLMPipeline, device=None, **kwargs):
        # The model is a diffusers pipeline, not a PreTrainedModel: keep only what sampling needs.
        self.model = model
        self.task = kwargs.get("task", TASK)
        if device is not None and device != -1:
            model.to(torch.device(f"cuda:{device}") if isinstance(device, int) else device)

    def _sanitize_parameters(self, **kwargs):
        return {}, kwargs, {}

    def preprocess(self, inputs):
        return inputs

    def _forward(self, model_inputs, **call_kwargs):
        return self.model(**call_kwargs)

    def postprocess(self, model_outputs):
        """One entry per text; ``record`` is that text's own parsed row, absent when the text is not a valid record
        (the pipeline's ``records`` leave invalid texts out, so they cannot be paired by position)."""
        if not isinstance(model_outputs.records, list):
            return [{"generated_text": text} for text in model_outputs.texts]
        checked = checked_records(self.model.schema, model_outputs.texts)
        return [{"generated_text": text, **({} if problems else {"record": row})}
                for text, (row, problems) in zip(model_outputs.texts, checked)]

    def __call__(self, num_samples: int = 1, **kwargs) -> list[dict]:
        kwargs.setdefault("output_type", "records" if self.model.schema is not None else "text")
        return self.postprocess(self._forward(None, num_samples=num_samples, **kwargs))


PIPELINE_REGISTRY.register_pipeline(
    TASK, pipeline_class=LatentTextGenerationPipeline, pt_model=LatentDiffusionLMTaskLoader, type="text"
)
