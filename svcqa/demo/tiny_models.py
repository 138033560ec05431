"""Tiny offline stand-ins for the models so-vits-svc-fork downloads, for tests and the demo.

A randomly initialised, very small ``transformers.HubertModel`` is written into a Hugging Face
cache under so-vits-svc-fork's ContentVec id (``lengyue233/content-vec-best``);
:data:`TINY_CONFIG_EDITS` shrinks the generated training config to match it and
:func:`tiny_train_settings` gives the batch size and intervals of a toy run. With
:func:`tiny_env` (``HF_HOME`` pointing at that cache, ``HF_HUB_OFFLINE=1``) ``svc pre-hubert``,
``svc train`` and ``svc infer`` run offline on a CPU in seconds. The voice is a toy.

The cache must be one of the test's or the demo workspace's own: a stand-in in the user's cache
would be picked up silently by a later real training.

Example
-------
>>> import tempfile
>>> hf_home = Path(tempfile.mkdtemp())
>>> build_tiny_contentvec(hf_home).name == TINY_SNAPSHOT_ID
True
>>> tiny_env(hf_home)["HF_HUB_OFFLINE"]
'1'
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_folder, atomic_write_text
from svcqa.core.settings import TrainSettings
from svcqa.engines.svc import CONTENTVEC_CACHE_FOLDER, CONTENTVEC_REPO_ID

TINY_SNAPSHOT_ID = hashlib.sha1(b"svcqa tiny stand-in ContentVec, version 1").hexdigest()
"""The fake commit id the stand-in is stored under; a snapshot with this id is always the toy."""

TINY_HIDDEN_SIZE = 64

TINY_HUBERT_CONFIG: dict[str, Any] = {
    "hidden_size": TINY_HIDDEN_SIZE,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "conv_dim": [32] * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "classifier_proj_size": TINY_HIDDEN_SIZE,
}

TINY_CONFIG_EDITS: dict[str, dict[str, Any]] = {
    "model": {
        "ssl_dim": TINY_HIDDEN_SIZE,
        "inter_channels": 32,
        "hidden_channels": 32,
        "filter_channels": 64,
        "n_layers": 1,
        "upsample_initial_channel": 64,
        "resblock_kernel_sizes": [3],
        # resblock "1" needs exactly three dilations per kernel.
        "resblock_dilation_sizes": [[1, 3, 5]],
        "n_layers_q": 1,
        "gin_channels": 32,
    },
    "train": {"segment_size": 4096},
}
"""Edits of ``configs/44k/config.json`` (per section) that shrink the model to the stand-in;
the training numbers svcqa sets anyway come from :func:`tiny_train_settings`."""


def contentvec_snapshot_dir(hf_home: Path, snapshot_id: str = TINY_SNAPSHOT_ID) -> Path:
    """Return where the stand-in ContentVec ``snapshot_id`` lives inside the Hugging Face home ``hf_home``."""
    return Path(hf_home) / "hub" / CONTENTVEC_CACHE_FOLDER / "snapshots" / snapshot_id


def build_tiny_contentvec(hf_home: Path, seed: int = 0) -> Path:
    """Return the snapshot folder of a tiny random ContentVec stand-in, writing it when absent.

    Parameters
    ----------
    hf_home : Path
        A Hugging Face home of the caller's own (a test's temporary folder, the demo
        workspace's cache). Never the user's: it is refused when it is the default cache or
        already holds another ContentVec.
    seed : int
        Seed of the random initialisation, so two builds give the same weights.
    """
    return build_contentvec(hf_home, TINY_HUBERT_CONFIG, TINY_SNAPSHOT_ID, seed)


def build_contentvec(hf_home: Path, hubert_config: dict[str, Any], snapshot_id: str, seed: int = 0) -> Path:
    """Return the snapshot folder of a random ContentVec stand-in of ``hubert_config``'s shape,
    writing it under ``snapshot_id`` when absent (see :func:`build_tiny_contentvec`)."""
    hf_home = Path(hf_home).expanduser().absolute()
    _refuse_users_cache(hf_home, snapshot_id)
    snapshot = contentvec_snapshot_dir(hf_home, snapshot_id)
    if (snapshot / "config.json").is_file() and (snapshot / "model.safetensors").is_file():
        return snapshot

    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    model = HubertModel(HubertConfig(**hubert_config))
    # so-vits-svc-fork loads a subclass with this extra layer; shipping it keeps its log free of
    # "newly initialised weights" warnings.
    model.final_proj = torch.nn.Linear(hubert_config["hidden_size"], hubert_config["classifier_proj_size"])
    with atomic_folder(snapshot) as staging:
        model.save_pretrained(staging)
    atomic_write_text(snapshot.parent.parent / "refs" / "main", snapshot_id)
    return snapshot


def tiny_env(hf_home: Path) -> dict[str, str]:
    """Return the environment variables that make a subprocess use ``hf_home``, offline."""
    return {"HF_HOME": str(Path(hf_home).expanduser().absolute()), "HF_HUB_OFFLINE": "1"}


def tiny_config_edits() -> dict[str, dict[str, Any]]:
    """Return a copy of :data:`TINY_CONFIG_EDITS` that the caller may change."""
    return copy.deepcopy(TINY_CONFIG_EDITS)


def tiny_train_settings(train: TrainSettings | None = None) -> TrainSettings:
    """Return ``train`` (default: the shipped defaults) with the numbers of a CPU toy run."""
    return dataclasses.replace(
        train or TrainSettings(),
        batch_size=2,
        num_workers=1,
        log_interval=10,
        eval_interval=20,
        f0_method="parselmouth",
    )


def _refuse_users_cache(hf_home: Path, snapshot_id: str) -> None:
    default_home = (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser().absolute()
        / "huggingface"
    )
    if hf_home == default_home:
        raise SvcqaError(
            f"Refusing to write the stand-in ContentVec into the default Hugging Face cache "
            f"{hf_home}: a later real training would use the toy model. Pass a folder of its own."
        )
    ref = hf_home / "hub" / CONTENTVEC_CACHE_FOLDER / "refs" / "main"
    if ref.is_file() and ref.read_text(encoding="utf-8").strip() != snapshot_id:
        raise SvcqaError(
            f"{hf_home} already holds another {CONTENTVEC_REPO_ID}; the stand-in would replace "
            "it. Pass a folder of its own."
        )
