"""The model config a checkpoint was trained with: where it is, its speakers, its architecture.

One rule for renders, covers and exports alike:

- the config is the ``config.json`` beside the checkpoint (``svc train`` copies the config it
  trained with into ``logs/44k``), else ``logs/44k/config.json``, else ``configs/44k/config.json``;
- the default speaker is the one with the lowest id, the speaker so-vits-svc-fork itself falls
  back to (id 0), whatever the order of the config's keys.

Example
-------
>>> config = ModelConfig(Path("config.json"), {"spk": {"tenor": 1, "alto": 0}})
>>> config.speakers
{'alto': 0, 'tenor': 1}
>>> resolve_speaker(config, "")
'alto'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svcqa.core.errors import SvcqaError
from svcqa.core.files import json_hash
from svcqa.core.workspace import Workspace

_FINGERPRINT_CHARS = 16
_FILE_LISTS = ("training_files", "validation_files")


class ModelConfigError(SvcqaError):
    """There is no model config, it is unreadable, or it lacks a speaker asked for."""


@dataclass(frozen=True, eq=False)
class ModelConfig:
    """A so-vits-svc-fork model config (``config.json``) as read from ``path``."""

    path: Path
    data: dict[str, Any]

    @property
    def speakers(self) -> dict[str, int]:
        """Return the speakers, name to id, by id."""
        return dict(sorted((self.data.get("spk") or {}).items(), key=lambda item: item[1]))

    @property
    def sample_rate_hz(self) -> int:
        """Return the model's sample rate (``data.sampling_rate``)."""
        return int(self._data_value("sampling_rate"))

    @property
    def hop_samples(self) -> int:
        """Return the model's frame hop in samples (``data.hop_length``)."""
        return int(self._data_value("hop_length"))

    @property
    def contentvec_final_proj(self) -> bool:
        """Return True when the model reads ContentVec's projected output (the default)."""
        return bool(self.data.get("data", {}).get("contentvec_final_proj", True))

    @property
    def fingerprint(self) -> str:
        """Return the hash (16 hex) of the data, model and speaker sections: the architecture a
        checkpoint must fit (the file lists of the data section left out)."""
        data = self.data.get("data", {})
        architecture = {
            "data": {k: v for k, v in data.items() if k not in _FILE_LISTS},
            "model": self.data.get("model", {}),
            "spk": self.data.get("spk", {}),
        }
        return json_hash(architecture, chars=_FINGERPRINT_CHARS)

    def _data_value(self, key: str) -> Any:
        try:
            return self.data["data"][key]
        except (KeyError, TypeError) as exc:
            raise ModelConfigError(
                f"The model config {self.path} has no data.{key}; run `svc pre-config` again."
            ) from exc


def config_candidates(ws: Workspace, checkpoint: Path | None = None) -> tuple[Path, ...]:
    """Return where a checkpoint's config is looked for, in order (see the module's rule)."""
    beside = (checkpoint.parent / "config.json",) if checkpoint is not None else ()
    return tuple(dict.fromkeys((*beside, ws.trained_config_path, ws.config_path)))


def model_config_path(ws: Workspace, checkpoint: Path | None = None) -> Path:
    """Return the config ``checkpoint`` was trained with (the first of :func:`config_candidates`
    that exists); without a checkpoint, the one of the workspace's own ``logs/44k``.

    When none exists, the last candidate (``configs/44k/config.json``) is returned, so callers
    can say where it should be.
    """
    candidates = config_candidates(ws, checkpoint)
    return next((path for path in candidates if path.is_file()), candidates[-1])


def read_model_config(path: Path) -> ModelConfig:
    """Return the config at ``path``; :class:`ModelConfigError` when it is missing or unreadable."""
    if not path.is_file():
        raise ModelConfigError(
            f"There is no model config ({path}): preprocess and train a model first, or put the "
            "config.json the model was trained with beside its checkpoint."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelConfigError(f"The model config {path} is unreadable ({exc}).") from exc
    if not isinstance(data, dict):
        raise ModelConfigError(f"The model config {path} is not a JSON object.")
    return ModelConfig(path, data)


def model_speakers(config_path: Path) -> dict[str, int]:
    """Return the speakers of the config at ``config_path``, name to id, by id."""
    return read_model_config(config_path).speakers


def resolve_speaker(config: ModelConfig, wanted: str) -> str:
    """Return ``wanted``, or for ``""`` the speaker with the lowest id.

    Raises :class:`ModelConfigError` when the config names no speaker or not ``wanted``.
    """
    speakers = config.speakers
    if not speakers:
        raise ModelConfigError(
            f"The model config {config.path} names no speaker (its 'spk' is empty); run `svc pre-config` again."
        )
    if not wanted:
        return next(iter(speakers))
    if wanted not in speakers:
        raise ModelConfigError(
            f"Speaker {wanted!r} is not in the model config; choose one of {', '.join(speakers)}."
        )
    return wanted
