"""What decides how vocals become the model's voice, resolved once per job: :class:`Conversion`.

It joins the workspace's model config (:mod:`svcqa.engines.svc.model_config`), the ContentVec
snapshot, the pitch tracker, transpose and speaker of the caller (the Render page's or the
Cover page's) and the shared :class:`~svcqa.core.settings.ConversionSettings` (noise, seed,
slicing). Renders and covers resolve it the same way, so the same choices give the same audio.

Example
-------
>>> slicing_kwargs(ConversionSettings())
{'db_thresh': -40, 'pad_seconds': 0.5, 'chunk_seconds': 0.5, 'absolute_thresh': False, 'max_chunk_seconds': 40.0}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core.files import json_hash
from svcqa.core.settings import ConversionSettings
from svcqa.core.workspace import Workspace
from svcqa.engines.svc import install
from svcqa.engines.svc.commands import subprocess_env
from svcqa.engines.svc.contentvec import find_contentvec, require_contentvec, snapshot_id
from svcqa.engines.svc.f0 import resolve_f0_method
from svcqa.engines.svc.model_config import model_config_path, read_model_config, resolve_speaker
from svcqa.engines.svc.overrides import workspace_env

FEATURES_VERSION = 1
"""Part of every features hash, so of stored render ids: raise it when a change in the engine
changes what a conversion sounds like."""
_HASH_CHARS = 16


def slicing_kwargs(settings: ConversionSettings) -> dict[str, Any]:
    """Return the slicing of ``settings`` as ``Svc.infer_silence``'s keyword arguments.

    The names and types are part of every features hash: keep them.
    """
    return {
        "db_thresh": int(settings.silence_threshold_db),
        "pad_seconds": float(settings.pad_s),
        "chunk_seconds": float(settings.chunk_s),
        "absolute_thresh": bool(settings.absolute_threshold),
        "max_chunk_seconds": float(settings.max_chunk_s),
    }


def describe_conversion(settings: ConversionSettings) -> str:
    """Return one sentence a page shows about the conversion settings renders and covers share."""
    reference = "full scale" if settings.absolute_threshold else "the loudest part"
    return (
        f"Conversion (the same for renders and covers): audio {abs(settings.silence_threshold_db)} dB "
        f"under {reference} is a pause and stays silent; each sung chunk is padded with "
        f"{settings.pad_s:g} s; decoder noise {settings.noise_scale:g}, seed {settings.seed}."
    )


@dataclass(frozen=True)
class Conversion:
    """Everything that decides what a conversion sounds like, resolved by :func:`resolve_conversion`.

    :attr:`features_hash` covers what the content features and f0 depend on (pitch tracker,
    rate, ContentVec, slicing); :meth:`key_dict` everything else that changes the audio.
    """

    config_path: Path
    model_fingerprint: str
    """Hash of the config's data, model and speaker sections (the architecture a checkpoint must fit)."""
    sample_rate_hz: int
    hop_samples: int
    contentvec_snapshot: str
    """The cached ContentVec folder, or "" when so-vits-svc-fork will download it."""
    contentvec_final_proj: bool
    speaker: str
    speaker_id: int
    f0_method: str
    transpose_semitones: int
    settings: ConversionSettings

    @property
    def contentvec_id(self) -> str:
        """Return the ContentVec snapshot's commit id (``download`` when it is not cached yet)."""
        return snapshot_id(self.contentvec_snapshot)

    @property
    def slicing(self) -> dict[str, Any]:
        """Return how audio is cut at pauses (``Svc.infer_silence``'s keyword arguments)."""
        return slicing_kwargs(self.settings)

    @property
    def features_hash(self) -> str:
        """Return the hash (16 hex) of what the content features and f0 of some audio depend on."""
        return json_hash(
            {
                "version": FEATURES_VERSION,
                "so_vits_svc_fork": install.version(),
                "f0_method": self.f0_method,
                "sample_rate_hz": self.sample_rate_hz,
                "hop_samples": self.hop_samples,
                "contentvec": self.contentvec_id,
                "contentvec_final_proj": self.contentvec_final_proj,
                "slicing": self.slicing,
            },
            chars=_HASH_CHARS,
        )

    def key_dict(self) -> dict[str, Any]:
        """Return everything that changes the converted audio, as stored with each render."""
        return {
            "features_hash": self.features_hash,
            "model_fingerprint": self.model_fingerprint,
            "speaker": self.speaker,
            "speaker_id": self.speaker_id,
            "f0_method": self.f0_method,
            "transpose_semitones": self.transpose_semitones,
            "noise_scale": float(self.settings.noise_scale),
            "seed": int(self.settings.seed),
        }


def job_env(ws: Workspace, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment a conversion in ``ws`` sees: ours, the workspace's variables, ``env``.

    The workspace's own variables come first (a demo workspace keeps its stand-in ContentVec there).
    """
    return subprocess_env({**workspace_env(ws), **(env or {})})


def contentvec_id(ws: Workspace, env: Mapping[str, str] | None = None) -> str:
    """Return the id of the ContentVec a conversion in ``ws`` would use, without raising."""
    return snapshot_id(find_contentvec(job_env(ws, env)))


def resolve_conversion(
    ws: Workspace,
    settings: ConversionSettings,
    *,
    f0_method: str,
    transpose_semitones: int,
    speaker: str,
    env: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Conversion:
    """Return the :class:`Conversion` of these choices in ``ws``.

    Parameters
    ----------
    ws : Workspace
    settings : ConversionSettings
        Noise, seed and slicing (the workspace's ``conversion`` section).
    f0_method, transpose_semitones, speaker
        The caller's pitch tracker (``auto`` resolved here), semitones and speaker (``""``: the
        lowest id).
    env : mapping, optional
        Extra environment variables deciding which ContentVec is used (such as
        :func:`svcqa.demo.tiny_models.tiny_env`).
    config_path : Path, optional
        The model config (:func:`svcqa.engines.svc.model_config_path` of the checkpoint); default
        the workspace's own.

    Raises
    ------
    ModelConfigError
        No model config, or a speaker the config does not have.
    ModelMissingError
        ContentVec is absent and downloads are off.
    SvcqaError
        An f0 method not available here.
    """
    config = read_model_config(config_path or model_config_path(ws))
    name = resolve_speaker(config, speaker)
    snapshot = require_contentvec(job_env(ws, env))
    return Conversion(
        config_path=config.path,
        model_fingerprint=config.fingerprint,
        sample_rate_hz=config.sample_rate_hz,
        hop_samples=config.hop_samples,
        contentvec_snapshot=str(snapshot) if snapshot else "",
        contentvec_final_proj=config.contentvec_final_proj,
        speaker=name,
        speaker_id=int(config.speakers[name]),
        f0_method=resolve_f0_method(f0_method),
        transpose_semitones=int(transpose_semitones),
        settings=settings,
    )
