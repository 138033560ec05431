"""Real-size offline stand-ins for so-vits-svc-fork's models, for benchmarks: random weights, real shapes.

Speed depends on the shapes, not on what the weights learned, so a benchmark with these measures
what a user's models cost:

* ContentVec base as so-vits-svc-fork loads it (``lengyue233/content-vec-best``): a HuBERT of 12
  layers, 768 wide, with the final projection to 256 (``HubertModelWithFinalProj``), written into
  a Hugging Face cache of the caller's own under :data:`REAL_SNAPSHOT_ID`;
* the generator of the so-vits-svc 4.x 44 kHz config ``svc pre-config`` writes
  (:data:`svcqa.engines.svc.CONFIG_TEMPLATE`), saved as ``svc train`` saves ``G_<step>.pth``:
  weights, AdamW state, iteration and learning rate (about 550 MB).

Building them takes a minute and about 0.4 GB plus 0.55 GB per checkpoint; they sing noise.

Example
-------
>>> real_config({"singer": 0})["model"]["upsample_initial_channel"]
512
>>> REAL_HUBERT_CONFIG["num_hidden_layers"], REAL_HUBERT_CONFIG["classifier_proj_size"]
(12, 256)
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svcqa.core.files import atomic_path, atomic_write_json
from svcqa.demo.tiny_models import build_contentvec
from svcqa.engines.svc import config_template_path

REAL_SNAPSHOT_ID = hashlib.sha1(b"svcqa real-size stand-in ContentVec, version 1").hexdigest()
"""The fake commit id the real-size stand-in is stored under."""

REAL_HUBERT_CONFIG: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "conv_dim": [512] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False,
    "feat_extract_norm": "group",
    "do_stable_layer_norm": False,
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "classifier_proj_size": 256,
}
"""The shape of ``lengyue233/content-vec-best``'s ``config.json`` (HuBERT base plus the projection)."""


def build_real_contentvec(hf_home: Path, seed: int = 0) -> Path:
    """Return the snapshot folder of a random ContentVec base stand-in in ``hf_home``, writing it
    when absent (a Hugging Face home of the caller's own, never the user's)."""
    return build_contentvec(hf_home, REAL_HUBERT_CONFIG, REAL_SNAPSHOT_ID, seed)


def real_config(speakers: Mapping[str, int]) -> dict[str, Any]:
    """Return the so-vits-svc 4.x 44 kHz config ``svc pre-config`` writes for ``speakers``."""
    config = copy.deepcopy(json.loads(config_template_path().read_text(encoding="utf-8")))
    config["spk"] = dict(speakers)
    return config


def write_random_generator(config_path: Path, path: Path, step: int, seed: int) -> Path:
    """Write a generator checkpoint of ``config_path``'s architecture with random weights.

    The file holds what so-vits-svc-fork's ``save_checkpoint`` writes: ``model``, ``optimizer``
    (AdamW after one step, so its state is as large as in training), ``learning_rate`` and
    ``iteration`` (``step``). ``seed`` decides the weights. Returns ``path``.
    """
    import torch
    from so_vits_svc_fork import utils
    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn

    hps = utils.get_hparams(str(config_path))
    torch.manual_seed(seed)
    generator = SynthesizerTrn(
        hps.data.filter_length // 2 + 1, hps.train.segment_size // hps.data.hop_length, **hps.model
    )
    optimizer = torch.optim.AdamW(generator.parameters(), hps.train.learning_rate, betas=hps.train.betas)
    for parameter in generator.parameters():
        parameter.grad = 1e-3 * torch.randn_like(parameter)
    optimizer.step()
    state = {
        "model": generator.state_dict(),
        "iteration": step,
        "optimizer": optimizer.state_dict(),
        "learning_rate": hps.train.learning_rate,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def build_real_model(folder: Path, steps: tuple[int, ...], speaker: str = "singer") -> list[Path]:
    """Return real-size generator checkpoints ``folder/G_<step>.pth`` beside their
    ``folder/config.json``, writing what is absent (each step seeds its own weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.json"
    if not config_path.is_file():
        atomic_write_json(config_path, real_config({speaker: 0}))
    return [
        path if path.is_file() else write_random_generator(config_path, path, step, seed=step)
        for step in steps
        for path in [folder / f"G_{step}.pth"]
    ]
