"""The secret that keys a pipeline's row hashes: kept on the fitting machine, never saved with the pipeline.

Unkeyed hashes of the training rows, shipped with a pipeline, let anyone holding it test a candidate row for
membership, or fill in a person's hidden fields by hashing every candidate the schema allows. Keyed with 32 random
bytes that stay in the owner's key folder, the stored hashes are random numbers to everyone else, while the owner's
``privacy="reject_copies"`` works as before. The folder is ``$LDLM_PRIVACY_KEYS``, by default
``~/.cache/hf_latent_diffusion_lm/privacy-keys``; each key is a file named after the id the guard's config records.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FOLDER_VARIABLE = "LDLM_PRIVACY_KEYS"
KEY_BYTES = 32


class PrivacyKeyMissing(ValueError):
    """The key of a pipeline's row hashes is not on this machine (the pipeline was fitted elsewhere)."""


def key_folder() -> Path:
    """Where this machine keeps privacy keys."""
    configured = os.environ.get(KEY_FOLDER_VARIABLE)
    return Path(configured) if configured else Path.home() / ".cache" / "hf_latent_diffusion_lm" / "privacy-keys"


def key_path(key_id: str) -> Path:
    if not key_id.isalnum():
        raise ValueError(f"A privacy key id is alphanumeric, got {key_id!r}.")
    return key_folder() / f"{key_id}.key"


def create_key() -> tuple[str, bytes]:
    """A new random key, stored (readable by its owner only) in :func:`key_folder`; returns its id and bytes."""
    key_id, key = secrets.token_hex(16), secrets.token_bytes(KEY_BYTES)
    path = key_path(key_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key_id, key


def load_key(key_id: str) -> bytes:
    """The key ``key_id`` from this machine's key folder, or a :class:`PrivacyKeyMissing` saying where it belongs."""
    path = key_path(key_id)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise PrivacyKeyMissing(
            f"privacy='reject_copies' needs this pipeline's privacy key, which stays on the machine that fitted it "
            f"({path.name} in its {KEY_FOLDER_VARIABLE} folder, by default ~/.cache/hf_latent_diffusion_lm/"
            f"privacy-keys) and is never saved with the pipeline. Copy that file into {path.parent} (or set "
            f"{KEY_FOLDER_VARIABLE}), or sample without the guard.") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"The privacy key {path} is damaged ({len(key)} bytes, expected {KEY_BYTES}).")
    return key
