"""ContentVec, the content encoder so-vits-svc-fork loads from Hugging Face: find it, explain its
absence, and load it once per process.

Example
-------
>>> hub_cache_dir({"HF_HOME": "/data/hf"}).as_posix()
'/data/hf/hub'
>>> is_offline({"HF_HUB_OFFLINE": "1"})
True
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svcqa.core.errors import ModelMissingError

CONTENTVEC_REPO_ID = "lengyue233/content-vec-best"
"""The Hugging Face model id so-vits-svc-fork 4.2.30 loads ContentVec from (``utils.get_hubert_model``)."""
CONTENTVEC_CACHE_FOLDER = "models--" + CONTENTVEC_REPO_ID.replace("/", "--")
DOWNLOAD_ID = "download"
"""The snapshot id of a ContentVec that is not cached yet (so-vits-svc-fork will download it)."""

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hub_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Return the Hugging Face hub cache a subprocess with ``env`` (default: ours) reads."""
    env = os.environ if env is None else env
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(name):
            return Path(os.path.expandvars(env[name])).expanduser()
    if env.get("HF_HOME"):
        return Path(os.path.expandvars(env["HF_HOME"])).expanduser() / "hub"
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def find_contentvec(env: Mapping[str, str] | None = None) -> Path | None:
    """Return the cached ContentVec snapshot folder so-vits-svc-fork would load, or None."""
    from huggingface_hub import try_to_load_from_cache

    cache_dir = hub_cache_dir(env)
    config = try_to_load_from_cache(CONTENTVEC_REPO_ID, "config.json", cache_dir=cache_dir)
    if not isinstance(config, str):
        return None
    snapshot = Path(config).parent
    if not any((snapshot / name).is_file() for name in _WEIGHT_FILES):
        return None
    return snapshot


def snapshot_id(snapshot: Path | str | None) -> str:
    """Return the commit id of a ContentVec snapshot folder, :data:`DOWNLOAD_ID` for none."""
    return Path(snapshot).name if snapshot else DOWNLOAD_ID


def is_offline(env: Mapping[str, str] | None = None) -> bool:
    """Return True when ``env`` tells Hugging Face libraries not to download (HF_HUB_OFFLINE)."""
    env = os.environ if env is None else env
    return env.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def require_contentvec(env: Mapping[str, str] | None = None) -> Path | None:
    """Return the cached ContentVec snapshot, or None when it is absent but may be downloaded.

    Raises :class:`ModelMissingError` when it is absent and ``env`` is offline, with a message
    that says what to download and where it goes.
    """
    snapshot = find_contentvec(env)
    if snapshot is None and is_offline(env):
        raise ModelMissingError(contentvec_missing_message(env))
    return snapshot


def contentvec_missing_message(env: Mapping[str, str] | None = None) -> str:
    """Return what to download, and where to put it, when ContentVec is not cached."""
    cache_dir = hub_cache_dir(env)
    return (
        f"ContentVec weights are missing: so-vits-svc-fork loads the Hugging Face model "
        f"{CONTENTVEC_REPO_ID} (config.json and pytorch_model.bin) for pre-hubert and infer, and "
        f"it is not in the Hugging Face cache {cache_dir}. On a machine with internet run "
        f"`hf download {CONTENTVEC_REPO_ID}` with HF_HUB_CACHE={cache_dir}, or copy a downloaded "
        f"{CONTENTVEC_CACHE_FOLDER} folder into {cache_dir}, then run this step again."
    )


@functools.lru_cache(maxsize=2)
def load_contentvec(snapshot: str, final_proj: bool, device: str) -> Any:
    """Return ContentVec on ``device``, loaded once per process, as so-vits-svc-fork loads it.

    ``snapshot`` is the cached folder (``""``: let ``so_vits_svc_fork.utils.get_hubert_model``
    download it). Reading the folder the caller resolved, rather than the Hugging Face cache this
    process saw when it imported huggingface_hub, lets a job use another cache (a demo workspace's).
    """
    from so_vits_svc_fork import utils
    from transformers import HubertModel

    if not snapshot:
        return utils.get_hubert_model(device, final_proj)
    model_class = utils.HubertModelWithFinalProj if final_proj else HubertModel
    model = model_class.from_pretrained(snapshot)
    for module in model.modules():
        utils.remove_weight_norm_if_exists(module)
    return model.to(device).eval()
