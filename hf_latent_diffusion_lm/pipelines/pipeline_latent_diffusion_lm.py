"""Latent diffusion into a frozen causal LM: sample a latent with the MLP denoiser, let the LM write the record."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from diffusers import DiffusionPipeline
from diffusers.schedulers import EDMDPMSolverMultistepScheduler, EDMEulerScheduler
from diffusers.utils import BaseOutput, logging
from diffusers.utils.torch_utils import randn_tensor
from huggingface_hub import HfApi
from peft import PeftModel
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from ..atomic_saving import write_json_atomically
from ..data.condition_encoder import ConditionEncoder
from ..data.json_record_schema import JsonRecordSchema
from ..data.table_schema import TableSchema
from ..data.record_tokenization import decoder_start_token_id, pad_token_id
from ..data.record_validity import checked_records
from ..decoder_reference import DecoderReference
from ..modeling import LatentDenoiserMLP, LatentVAEModel
from ..privacy import PrivacyGuard
from .batch_sizing import decoding_batch_size
from .redrawing import redraw_rejected
from .referenced_decoder import ReferencedDecoder, save_decoder_folder
from .sampling_options import Conditions, DecodingOptions, Privacy, check_engine

OUTPUT_TYPES = ("text", "records", "pandas")
logger = logging.get_logger(__name__)


@dataclass
class LatentDiffusionLMPipelineOutput(BaseOutput):
    """Output of :class:`LatentDiffusionLMPipeline`.

    Args:
        texts: the records as the decoder wrote them.
        latents: the latents they were decoded from, ``(num_samples, latent_dim)``.
        records: parsed records (``output_type="records"``: a list of dicts, ``"pandas"``: a DataFrame with the
            schema's dtypes); records that do not parse are left out and counted in ``validity``.
        validity: share of ``texts`` that parse and satisfy the schema (``None`` without a schema).
        privacy_redraws: rows the privacy guard had drawn again (``None`` without ``privacy``).
        privacy_dropped: rows still rejected after the last re-draw round, left out of ``texts`` and ``records``.
    """

    texts: list[str]
    latents: torch.Tensor
    records: Any = None
    validity: float | None = None
    privacy_redraws: int | None = None
    privacy_dropped: int | None = None


@contextlib.contextmanager
def _seeded(generator: torch.Generator | None, device: torch.device):
    """Run the LM's sampling (which uses torch's global RNG) from a seed drawn off ``generator``."""
    if generator is None:
        yield
        return
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


class LatentDiffusionLMPipeline(DiffusionPipeline):
    r"""Pipeline for synthetic records with a latent-diffusion language model (DiffLM).

    Components:
        vae ([`LatentVAEModel`]): encoder, posterior and latent injector.
        denoiser ([`LatentDenoiserMLP`]): the latent prior, holding the latent normalisation statistics.
        scheduler ([`EDMEulerScheduler`] or [`EDMDPMSolverMultistepScheduler`]): the sampler of the latent prior.
        decoder ([`~transformers.AutoModelForCausalLM`] or `None`): the frozen LM that writes records (possibly
            with a PEFT adapter). The pipeline is its one owner. ``None``: loaded from ``decoder_reference``.
        tokenizer: the decoder's tokenizer.
        encoder_tokenizer (*optional*): the encoder's tokenizer; ``None`` when the encoder reads decoder ids.
        schema (`dict`, *optional*): a ``TableSchema`` (or its dict): parsing, validation and constrained decoding.
        conditioning (`dict`, *optional*): a ``ConditionEncoder`` (or its dict) naming the columns the denoiser
            was trained to condition on.
        max_new_tokens (`int`, defaults to 256): default decoding budget; training sets it from the longest record.
        card_metadata (`dict`, *optional*): what the model card says about data, training and metrics.
        decoder_reference (`dict`, *optional*): a :class:`DecoderReference` (or its dict) naming the decoder the
            pipeline was trained against and fingerprinting its weights; saved instead of the decoder's weights.
            Default: a reference to ``decoder``.
        strict (`bool`, defaults to `True`): a ``decoder`` whose weights differ from ``decoder_reference`` raises
            :class:`DecoderMismatchError`; ``False`` allows a deliberate swap, with a warning.
        privacy_guard ([`PrivacyGuard`], *optional*): hashes of the training rows (and, if opted in, DCR reference
            rows) for ``pipe(..., privacy=...)``; training fits it.
    """

    model_cpu_offload_seq = "denoiser->vae->decoder"
    _optional_components = ["encoder_tokenizer", "decoder", "privacy_guard"]
    _exclude_from_cpu_offload = ["privacy_guard"]  # read as data, never run: offload hooks would empty it

    def __init__(
        self,
        vae: LatentVAEModel,
        denoiser: LatentDenoiserMLP,
        scheduler: EDMEulerScheduler | EDMDPMSolverMultistepScheduler,
        decoder: PreTrainedModel | PeftModel | None,
        tokenizer: PreTrainedTokenizerBase,
        encoder_tokenizer: PreTrainedTokenizerBase | None = None,
        schema: TableSchema | JsonRecordSchema | dict | None = None,
        conditioning: ConditionEncoder | dict | None = None,
        max_new_tokens: int = 256,
        card_metadata: dict | None = None,
        decoder_reference: DecoderReference | dict | None = None,
        strict: bool = True,
        privacy_guard: PrivacyGuard | None = None,
    ):
        super().__init__()
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}.")
        if vae.config.latent_dim != denoiser.config.latent_dim:
            raise ValueError(
                f"The VAE's latent_dim ({vae.config.latent_dim}) differs from the denoiser's "
                f"({denoiser.config.latent_dim})."
            )
        if getattr(scheduler.config, "sigma_data", denoiser.config.sigma_data) != denoiser.config.sigma_data:
            raise ValueError(
                f"The scheduler's sigma_data ({scheduler.config.sigma_data}) differs from the denoiser's "
                f"({denoiser.config.sigma_data}); EDM preconditioning needs them equal."
            )
        decoder, reference = self._resolve_decoder(decoder, decoder_reference, strict)
        vae.check_decoder(decoder)
        decoder.requires_grad_(False)
        self.register_modules(
            vae=vae, denoiser=denoiser, scheduler=scheduler, decoder=decoder.eval(), tokenizer=tokenizer,
            encoder_tokenizer=encoder_tokenizer, privacy_guard=privacy_guard,
        )
        self.register_to_config(decoder_reference=reference.to_dict())
        self._schema = None
        self.schema = schema
        self._condition_encoder = None
        self.condition_encoder = conditioning
        self.register_to_config(max_new_tokens=max_new_tokens, card_metadata=card_metadata)

    @staticmethod
    def _resolve_decoder(decoder, reference, strict: bool):
        """The decoder (loaded from the reference if not given) and the reference the pipeline will save."""
        from ..pretrained import load_decoder

        if isinstance(reference, dict):
            reference = DecoderReference.from_dict(reference)
        if decoder is None:
            if reference is None:
                raise ValueError("Pass the frozen decoder (decoder=...) or a decoder_reference to load it from.")
            decoder = load_decoder(reference)
        if reference is None or not reference.check(decoder, strict):  # a deliberate swap takes the new decoder's
            reference = DecoderReference.of(decoder)
        return decoder, reference

    @property
    def decoder_reference(self) -> DecoderReference:
        """How the saved pipeline names its frozen decoder (Hub id, revision, GGUF file, dtype, fingerprint)."""
        return DecoderReference.from_dict(self.config.decoder_reference)

    # -- schema ---------------------------------------------------------------------------------------------
    @property
    def schema(self):
        """The ``TableSchema`` or ``JsonRecordSchema`` records are parsed, validated and constrained with (``None``
        for free text)."""
        return self._schema

    @schema.setter
    def schema(self, value) -> None:
        if isinstance(value, dict):
            from ..data.record_schemas import schema_from_dict

            value = schema_from_dict(value)
        self._schema = value
        self.register_to_config(schema=value.to_dict() if value is not None else None)

    @property
    def condition_encoder(self) -> ConditionEncoder | None:
        """Which columns the latent prior can be conditioned on (``None``: unconditional only)."""
        return self._condition_encoder

    @condition_encoder.setter
    def condition_encoder(self, value) -> None:
        encoder = ConditionEncoder.from_dict(value) if isinstance(value, dict) else value
        if encoder is not None and encoder.num_classes != list(self.denoiser.config.condition_num_classes or []):
            raise ValueError(
                f"The conditioning columns {encoder.columns} (classes {encoder.num_classes}) do not match the "
                f"denoiser's condition_num_classes {self.denoiser.config.condition_num_classes}."
            )
        self._condition_encoder = encoder
        self.register_to_config(conditioning=encoder.to_dict() if encoder is not None else None)

    def save_pretrained(self, save_directory, save_decoder: bool = False, **kwargs):
        """Save every trained component (safetensors), a README.md model card, and the VAE's config at the root so
        that ``transformers.pipeline("latent-text-generation", model=save_directory)`` can find the task's model.

        The frozen decoder is saved as a reference (``decoder/reference.json``: Hub id, revision, GGUF file, dtype,
        weight fingerprint) plus its PEFT adapter if it has one, like an adapter names its base model; with
        ``save_decoder=True`` its weights are copied too, for machines that can reach neither the Hub nor the
        package that mirrors it.
        """
        from ..model_card import write_model_card

        repo_id = kwargs.pop("repo_id", None)
        kwargs.setdefault("safe_serialization", True)
        entry = self.config.decoder
        self.register_to_config(decoder=(None, None))  # diffusers saves no optional component whose entry is None
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            self.register_to_config(decoder=entry)
        save_decoder_folder(self.decoder, self.decoder_reference, os.path.join(save_directory, "decoder"),
                            copy_weights=save_decoder)
        index = os.path.join(save_directory, self.config_name)  # model_index.json: the decoder loads by reference
        write_json_atomically(index, {**json.loads(Path(index).read_text(encoding="utf-8")),
                                      "decoder": [ReferencedDecoder.__module__, ReferencedDecoder.__name__]})
        self.vae.config.save_pretrained(save_directory)
        write_model_card(self, save_directory, repo_id=repo_id)

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str = "Upload LatentDiffusionLMPipeline",
        private: bool | None = None,
        token: str | None = None,
        create_pr: bool = False,
        **save_kwargs,
    ):
        """Save the pipeline (with its model card) to a temporary folder and upload it with ``huggingface_hub``.

        Unlike the inherited method this keeps our model card instead of fetching or creating a generic one.
        """
        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder, repo_id=repo_id, **save_kwargs)
            return api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message,
                                     create_pr=create_pr)

    # -- latents --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_latents(
        self,
        num_samples: int,
        num_inference_steps: int = 20,
        generator: torch.Generator | None = None,
        condition: torch.LongTensor | None = None,
        guidance_scale: float = 1.0,
    ) -> torch.Tensor:
        """Latents from the diffusion prior, de-normalised to the VAE's latent space: ``(num_samples, latent_dim)``.

        With ``condition`` (indices per conditioning column) and ``guidance_scale != 1``, classifier-free guidance
        mixes the conditional and unconditional predictions: ``F_u + w (F_c - F_u)``.
        """
        denoiser, device = self.denoiser, self._execution_device
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        shape = (num_samples, denoiser.config.latent_dim)
        latents = randn_tensor(shape, generator=generator, device=device, dtype=denoiser.dtype)
        latents = latents * self.scheduler.init_noise_sigma
        guided = condition is not None and guidance_scale != 1.0
        null = denoiser.null_condition(num_samples) if guided else None
        for t in self.scheduler.timesteps:
            model_input = self.scheduler.scale_model_input(latents, t)
            prediction = denoiser(model_input, t, condition=condition).sample
            if guided:
                unconditional = denoiser(model_input, t, condition=null).sample
                prediction = unconditional + guidance_scale * (prediction - unconditional)
            latents = self.scheduler.step(prediction, t, latents, generator=generator).prev_sample
        return denoiser.denormalize(latents)

    @torch.no_grad()
    def encode(self, records: Sequence[str | dict], batch_size: int = 64) -> torch.Tensor:
        """Posterior means of records (texts, or dicts serialized with the schema): ``(n, latent_dim)``."""
        texts = [self.schema.to_text(r) if isinstance(r, dict) else r for r in records]
        if not texts:
            raise ValueError("encode() needs at least one record.")
        return self.vae.encode_texts(texts, self.tokenizer, self.encoder_tokenizer, batch_size)

    # -- decoding -------------------------------------------------------------------------------------------
    def _logits_processors(self, constrained: bool, fixed_values, start: int, stop: int,
                           tool_call_consistency: bool = True) -> LogitsProcessorList:
        if not constrained:
            return LogitsProcessorList()
        from ..grammar import SchemaLogitsProcessor

        if isinstance(fixed_values, list):
            fixed_values = fixed_values[start:stop]
        vocab_size = self.decoder.get_output_embeddings().weight.shape[0]
        return LogitsProcessorList(
            [SchemaLogitsProcessor(self.schema, self.tokenizer, vocab_size=vocab_size, fixed_values=fixed_values,
                                   tool_call_consistency=tool_call_consistency)]
        )

    @torch.no_grad()
    def decode(
        self,
        latents: torch.Tensor,
        batch_size: int | str = "auto",
        max_new_tokens: int | None = None,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        constrained: bool = False,
        fixed_values: dict | list[dict] | None = None,
        generator: torch.Generator | None = None,
        engine: str = "auto",
        tool_call_consistency: bool = True,
        **generate_kwargs,
    ) -> list[str]:
        """Texts the frozen decoder writes for each latent (greedy by default: a reconstruction).

        ``batch_size="auto"`` sizes batches (slots) from free accelerator memory. ``engine="slots"`` decodes with
        a pool of ``batch_size`` slots, each refilled as soon as its record ends (:mod:`.slot_decoding`);
        ``"generate"`` runs ``generate`` batch by batch, and takes extra keyword arguments for it (e.g.
        ``cache_implementation="static"``); ``"auto"`` is ``"slots"`` unless such arguments are given. For tool-use
        records, ``tool_call_consistency`` decodes each record's calls under a grammar of the functions it offers.
        """
        check_engine(engine, generate_kwargs)
        if constrained and self.schema is None:
            raise ValueError("constrained=True needs a schema: set pipe.schema = TableSchema.infer(data).")
        if isinstance(fixed_values, list) and len(fixed_values) != len(latents):
            raise ValueError(f"fixed_values has {len(fixed_values)} rows for {len(latents)} latents.")
        max_new_tokens = max_new_tokens or self.config.max_new_tokens
        if batch_size == "auto":
            batch_size = decoding_batch_size(self.decoder, self.vae.config, self._execution_device, max_new_tokens)
        options = {"max_new_tokens": max_new_tokens, "do_sample": do_sample, **generate_kwargs,
                   "pad_token_id": pad_token_id(self.tokenizer), "eos_token_id": self.tokenizer.eos_token_id}
        if do_sample:
            options.update(temperature=temperature, top_p=top_p, top_k=0)
        start_token, texts, truncated = decoder_start_token_id(self.tokenizer), [], 0
        with _seeded(generator, self._execution_device):
            if engine != "generate" and not generate_kwargs:
                from .slot_decoding import decode_texts_in_slots

                with self.progress_bar(total=len(latents)) as bar:
                    texts, truncated = decode_texts_in_slots(
                        self.decoder, self.vae.injector, self.tokenizer, latents, batch_size, max_new_tokens,
                        do_sample, temperature, top_p, self.schema if constrained else None, fixed_values, bar,
                        tool_call_consistency)
            else:
                for start in self.progress_bar(range(0, len(latents), batch_size)):
                    stop = min(start + batch_size, len(latents))
                    processors = self._logits_processors(constrained, fixed_values, start, stop,
                                                         tool_call_consistency)
                    ids = self.vae.generate(self.decoder, latents[start:stop], start_token, logits_processor=processors,
                                            **options)
                    if ids.shape[1] >= max_new_tokens:
                        truncated += int((ids != self.tokenizer.eos_token_id).all(dim=1).sum())
                    texts.extend(self.tokenizer.batch_decode(ids, skip_special_tokens=True))
        if truncated:
            logger.warning(f"{truncated} of {len(texts)} records hit max_new_tokens={max_new_tokens} before ending "
                           "and are cut short; raise max_new_tokens.")
        return texts

    @torch.no_grad()
    def interpolate(self, start: str | dict, end: str | dict, steps: int = 5, **decode_kwargs) -> list:
        """Records decoded along the straight line between the latents of two records (both ends included).

        Returns texts, or parsed records when the pipeline has a schema (decoding is then constrained).
        """
        if steps < 2:
            raise ValueError(f"steps must be at least 2 (the two ends), got {steps}.")
        ends = self.encode([start, end])
        weights = torch.linspace(0.0, 1.0, steps, device=ends.device)[:, None]
        latents = (1 - weights) * ends[0] + weights * ends[1]
        decode_kwargs.setdefault("constrained", self.schema is not None)
        texts = self.decode(latents, **decode_kwargs)
        return [self.schema.parse(text) for text in texts] if decode_kwargs["constrained"] else texts

    @torch.no_grad()
    def complete(
        self,
        frame,
        num_inference_steps: int = 20,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        **decode_kwargs,
    ):
        """Fill the missing cells of each row of ``frame`` consistently with the cells it has.

        The given cells are forced during (constrained) decoding; those in conditionable columns also steer the
        latent, so the filled cells follow the conditional distribution. Returns a DataFrame with every schema
        column, given cells unchanged.
        """
        import pandas as pd

        if self.schema is None or not self.schema.has_columns:
            raise ValueError("complete() fills the empty cells of table rows; this pipeline " + (
                "has no schema." if self.schema is None else "writes nested JSON records, which have no cells."))
        self._check_known_columns(frame.columns, "column")
        if len(frame) == 0:
            raise ValueError("complete() got an empty DataFrame.")
        given = [{c: self.schema[c].canonical(v) for c, v in row.items() if not pd.isna(v)}
                 for row in frame.to_dict("records")]
        for index, row in enumerate(given):  # before any sampling, naming the row
            if problems := self.schema.cell_problems(row):
                raise ValueError(f"Row {index} of the table to complete breaks the schema: {problems[0]}.")
        condition = self._latent_condition(Conditions(given), len(given), forced=True)
        self._check_guidance(guidance_scale, condition)
        latents = self.sample_latents(len(given), num_inference_steps, generator, condition, guidance_scale)
        decode_kwargs.setdefault("do_sample", True)
        texts = self.decode(latents, constrained=True, fixed_values=given, generator=generator, **decode_kwargs)
        return self.schema.records_to_frame([self.schema.parse(text) for text in texts])

    def _check_known_columns(self, columns, what: str) -> None:
        unknown = [c for c in columns if c not in self.schema.names]
        if unknown:
            raise ValueError(f"Unknown {what}(s) {unknown}; the schema has {self.schema.names}.")

    def _latent_condition(self, conditions: Conditions | None, num_samples: int,
                          forced: bool) -> torch.LongTensor | None:
        """The denoiser's condition indices for ``conditions`` (``None``: nothing to steer); a column that can be
        neither steered nor ``forced`` is refused."""
        if conditions is None:
            return None
        columns = conditions.columns
        if self.schema is not None:
            self._check_known_columns(columns, "condition column")
        encoder = self.condition_encoder
        steerable = [c for c in columns if conditions.steer and encoder is not None and c in encoder.columns]
        if len(steerable) < len(columns) and not forced:
            raise ValueError(
                f"Conditions on {sorted(set(columns) - set(steerable))} need constrained decoding (a schema) or a "
                "denoiser trained to condition on them (ldlm fit --condition-columns)."
            )
        if not steerable:
            return None
        if isinstance(conditions.values, list):
            if len(conditions.values) != num_samples:
                raise ValueError(f"conditions has {len(conditions.values)} rows but num_samples={num_samples}.")
            indices = encoder.encode_rows([{c: row.get(c) for c in steerable} for row in conditions.values])
        else:
            indices = encoder.encode({c: conditions.values[c] for c in steerable}, num_samples)
        return indices.to(self._execution_device)

    def _parse(self, texts: list[str]) -> tuple[list[dict], float]:
        """The valid records among ``texts`` and their share."""
        records = [row for row, problems in checked_records(self.schema, texts) if not problems]
        return records, len(records) / max(len(texts), 1)

    @torch.no_grad()
    def __call__(
        self,
        num_samples: int = 1,
        conditions: Conditions | dict[str, Any] | list[dict[str, Any]] | None = None,
        guidance_scale: float = 1.0,
        num_inference_steps: int = 20,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        decoding: DecodingOptions | dict | None = None,
        privacy: Privacy | str | None = None,
        output_type: str = "text",
        return_dict: bool = True,
    ) -> LatentDiffusionLMPipelineOutput | tuple:
        r"""Sample ``num_samples`` synthetic records.

        Args:
            num_samples (`int`, *optional*, defaults to 1):
                How many records.
            conditions (`dict`, `list[dict]` or [`Conditions`], *optional*):
                `{column: value}` the records must have (a list: one dict per record). Columns the denoiser was
                trained on steer the latent (so the other columns follow the conditional distribution); under
                constrained decoding every value is also forced in every record. `Conditions(values, force=False)`
                only steers, `Conditions(values, steer=False)` only forces.
            guidance_scale (`float`, *optional*, defaults to 1.0):
                Classifier-free guidance weight `w` for `conditions` in the latent (1: plain conditional sampling;
                >1: stronger adherence).
            num_inference_steps (`int`, *optional*, defaults to 20):
                Steps of the latent sampler (few-step solvers such as `EDMDPMSolverMultistepScheduler` work with 5-10).
            generator (`torch.Generator`, *optional*):
                Makes latent sampling and the LM's token sampling reproducible.
            latents (`torch.Tensor` of shape `(num_samples, latent_dim)`, *optional*):
                Decode these instead of sampling the prior.
            decoding ([`DecodingOptions`] or `dict`, *optional*):
                How the LM writes: `batch_size`, `max_new_tokens`, `do_sample` (default `True`), `temperature`,
                `top_p`, `constrained` (default: on when the pipeline has a schema), `engine`,
                `tool_call_consistency`, `generate_kwargs`.
            privacy (`str` or [`Privacy`], *optional*):
                `"reject_copies"` re-draws rows equal to a training row; `"dcr"` also rows closer to their nearest
                training row than the threshold calibrated at fit time (see [`PrivacyGuard`]). Rows are re-drawn from
                fresh latents for up to `Privacy.max_rounds` (10) rounds; rows still rejected are left out, and
                `privacy_redraws` / `privacy_dropped` in the output count them.
            output_type (`str`, *optional*, defaults to `"text"`):
                `"text"`, `"records"` (list of dicts) or `"pandas"` (DataFrame).
            return_dict (`bool`, *optional*, defaults to `True`):
                Return a [`LatentDiffusionLMPipelineOutput`] instead of a plain tuple.

        Examples:
            ```py
            >>> import torch, hf_latent_diffusion_lm
            >>> from diffusers import DiffusionPipeline

            >>> pipe = DiffusionPipeline.from_pretrained("adult-model")  # trained with `ldlm fit`
            >>> out = pipe(num_samples=100, output_type="pandas", conditions={"income": ">50K"}, guidance_scale=2.0,
            ...            generator=torch.Generator().manual_seed(0))
            >>> out.records.head(), out.validity
            ```

        Returns:
            [`LatentDiffusionLMPipelineOutput`] or `tuple`: the texts, the latents they came from, the parsed records
            (valid ones only) and their share.
        """
        conditions, decoding, privacy = Conditions.of(conditions), DecodingOptions.of(decoding), Privacy.of(privacy)
        constrained = self.check_inputs(num_samples, latents, decoding, privacy, output_type)
        forced = conditions is not None and conditions.force and constrained
        condition = self._latent_condition(conditions, num_samples, forced)
        self._check_guidance(guidance_scale, condition)
        fixed_values = conditions.values if forced else None
        decode_options = {**decoding.decode_kwargs(), "constrained": constrained, "generator": generator}

        def draw(rows) -> tuple[list[str], torch.Tensor]:
            """Latents from the prior and the records decoded from them, for the records at index ``rows``."""
            index = torch.as_tensor(rows, device=self._execution_device)
            new = self.sample_latents(len(rows), num_inference_steps, generator,
                                      None if condition is None else condition[index], guidance_scale)
            values = [fixed_values[row] for row in rows] if isinstance(fixed_values, list) else fixed_values
            return self.decode(new, fixed_values=values, **decode_options), new

        if latents is None:
            texts, latents = draw(list(range(num_samples)))
        else:
            texts = self.decode(latents, fixed_values=fixed_values, **decode_options)
        guarded = None
        if privacy is not None:
            guarded = redraw_rejected(texts, latents, lambda found: self.privacy_guard.rejected_texts(
                self.schema, found, privacy.mode), draw, privacy.max_rounds)
            texts, latents = guarded.without_pending()
        records, validity = (None, None) if self.schema is None else self._parse(texts)
        if output_type == "text":
            records = None
        elif output_type == "pandas":
            records = self.schema.records_to_frame(records)
        self.maybe_free_model_hooks()
        output = LatentDiffusionLMPipelineOutput(
            texts=texts, latents=latents, records=records, validity=validity,
            privacy_redraws=None if guarded is None else guarded.redraws,
            privacy_dropped=None if guarded is None else len(guarded.pending))
        return output if return_dict else output.to_tuple()

    def _check_guidance(self, guidance_scale: float, condition: torch.Tensor | None) -> None:
        if guidance_scale != 1.0 and condition is None:
            raise ValueError(f"guidance_scale={guidance_scale} has nothing to weigh: guidance steers the latent toward "
                             "conditions on columns the prior was trained to condition on (ldlm fit "
                             "--condition-columns), and " + ("this model has none." if self.condition_encoder is None
                                                             else "no such condition was given."))

    def check_inputs(self, num_samples, latents, decoding: DecodingOptions, privacy: Privacy | None,
                     output_type: str) -> bool:
        """Refuse what cannot work before any sampling; returns whether decoding is constrained."""
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}.")
        if latents is not None and latents.shape[0] != num_samples:
            raise ValueError(f"latents has {latents.shape[0]} rows but num_samples={num_samples}.")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}.")
        if output_type != "text" and self.schema is None:
            raise ValueError(f"output_type={output_type!r} needs a schema; this pipeline has none.")
        if privacy is not None:
            if self.schema is None or self.privacy_guard is None:
                raise ValueError(f"privacy={privacy.mode!r} needs a schema and a privacy guard, which training fits; "
                                 "this pipeline lacks one. Attach one: pipe.register_modules(privacy_guard="
                                 "PrivacyGuard.fit(pipe.schema, pipe.schema.records(training_data))).")
            self.privacy_guard.check_mode(privacy.mode)
        return self.schema is not None if decoding.constrained is None else decoding.constrained
