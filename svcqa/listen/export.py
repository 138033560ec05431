"""Exporting the checkpoint the listeners chose: generator weights and config in one zip,
what so-vits-svc-fork needs to sing, without the optimizer state."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from svcqa.core.errors import SvcqaError
from svcqa.core.files import atomic_path, safe_name
from svcqa.core.records import Record
from svcqa.core.workspace import Workspace

_CHECKPOINT_FILE = re.compile(r"G_(\d+)\.pth")


class ExportError(SvcqaError):
    """A checkpoint or config could not be read or exported."""


@dataclass(frozen=True)
class ExportedModel(Record):
    """An inference-only model written by :func:`export_checkpoint`."""

    path: Path
    model_name: str
    """Name of the generator file inside the zip, ``G_<step>.pth``."""
    size_bytes: int
    checkpoint_bytes: int
    """Size of the training checkpoint it came from."""


def export_checkpoint(
    checkpoint_path: Path, config_path: Path, out_zip: Path, *, step: int | None = None
) -> ExportedModel:
    """Write ``out_zip`` holding ``G_<step>.pth`` (generator weights only) and ``config.json``.

    The generator file keeps the keys so-vits-svc-fork's ``utils.load_checkpoint`` reads
    (``model``, ``iteration``, ``learning_rate``; ``optimizer`` is None) and loads with
    ``torch.load(weights_only=True)``. ``step`` defaults to the number in a ``G_<N>.pth`` name.
    The zip is written atomically: a reader never sees half of it.
    """
    import torch

    checkpoint_path, config_path, out_zip = Path(checkpoint_path), Path(config_path), Path(out_zip)
    if step is None:
        match = _CHECKPOINT_FILE.fullmatch(checkpoint_path.name)
        if match is None:
            raise ExportError(
                f"Cannot tell the step of {checkpoint_path.name}; name it G_<step>.pth or give the step."
            )
        step = int(match.group(1))
    try:
        config_text = config_path.read_text(encoding="utf-8")
        json.loads(config_text)
    except (OSError, ValueError) as exc:
        raise ExportError(
            f"Config {config_path} is unreadable ({exc}); export needs the training config."
        ) from exc
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise ExportError(f"Checkpoint {checkpoint_path} could not be loaded ({exc}).") from exc
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), Mapping):
        raise ExportError(
            f"{checkpoint_path.name} holds no generator weights ('model'); export a G_*.pth checkpoint."
        )
    slim = {
        # A view would drag its whole shared storage into the file; clones own their memory.
        "model": {
            key: value.detach().clone() if torch.is_tensor(value) else value
            for key, value in checkpoint["model"].items()
        },
        # so-vits-svc-fork reads both keys when loading, though inference uses neither.
        "iteration": int(checkpoint.get("iteration", 0)),
        "learning_rate": float(checkpoint.get("learning_rate", 0.0)),
        "optimizer": None,
    }
    model_name = f"G_{step}.pth"
    with (
        atomic_path(out_zip) as partial,
        zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        with archive.open(model_name, "w", force_zip64=True) as member:
            torch.save(slim, member)
        archive.writestr("config.json", config_text)
    return ExportedModel(out_zip, model_name, out_zip.stat().st_size, checkpoint_path.stat().st_size)


def default_export_path(ws: Workspace, step: int) -> Path:
    """Return where the page writes the export of step ``step``: ``exports/<workspace>_G_<step>.zip``."""
    return ws.exports / f"{safe_name(ws.root.name, fallback='model')}_G_{int(step)}.zip"


def export_step(ws: Workspace, step: int, out_zip: Path, sha256: str | None = None) -> ExportedModel:
    """Export the registered checkpoint of ``step`` (and ``sha256`` when given) with the model config.

    The config is the one the checkpoint was trained with (:func:`svcqa.engines.svc.model_config_path`).
    Raises :class:`ExportError` when no such checkpoint is registered or its file is gone.
    """
    from svcqa.engines.svc import model_config_path
    from svcqa.train.checkpoints import list_checkpoints

    registered = list_checkpoints(ws)
    found = [c for c in registered if c.step == step and (sha256 is None or c.sha256 == sha256)]
    if not found:
        steps = ", ".join(str(c.step) for c in registered) or "none"
        raise ExportError(f"No registered checkpoint of step {step} (registered steps: {steps}).")
    source = found[-1].available_path
    if source is None:
        raise ExportError(
            f"The checkpoint of step {step} is gone from the run folder and the archive; it cannot be exported."
        )
    return export_checkpoint(source, model_config_path(ws, found[-1].path), Path(out_zip), step=step)
