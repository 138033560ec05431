"""The conversion engine: vocals in, the model's voice out, on one device.

:class:`SvcConverter` runs one :class:`~svcqa.engines.svc.conversion.Conversion`: features
(ContentVec and f0, cut at pauses), the checkpoint's generator, decoding. ContentVec and
generators are loaded once per process. The renderer and the cover's convert stage both use it,
and its output equals ``svc infer``'s for the same checkpoint and settings with the decoder
noise seeded the same way (``tests/test_svc_pipeline.py`` measures it).

Example
-------
>>> conversion = resolve_conversion(ws, settings.conversion, f0_method="auto",   # doctest: +SKIP
...                                 transpose_semitones=0, speaker="")
>>> sung = SvcConverter(conversion).convert(vocals, ws.logs_44k / "G_800.pth")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.core.interpreter import import_frozen
from svcqa.engines.svc.conversion import Conversion
from svcqa.engines.svc.features import Features, compute_features
from svcqa.engines.svc.generator import decode, load_generator

CONVERSION_MODULES = (
    "torch",
    "so_vits_svc_fork.utils",
    "so_vits_svc_fork.f0",
    "so_vits_svc_fork.inference.core",
    "so_vits_svc_fork.modules.synthesizers",
)
"""What converting imports: loaded when a converter is made, with the collector paused."""


def quiet_svc_logging() -> None:
    """Send log records to stderr at WARNING and above, before so-vits-svc-fork is imported.

    so-vits-svc-fork configures the root logger on import (rich, INFO, to stdout) unless it
    already has a handler; its per-chunk INFO lines would bury a command's own output.
    """
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


def resolve_device(name: str = "auto") -> str:
    """Return the torch device to convert on: ``name``, or for "auto" the GPU when there is one."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SvcConverter:
    """Converts audio with checkpoints for one :class:`Conversion`, on the device and with the CPU
    threads of its settings (``cpu_threads`` 0: half the cores, at least one).

    The generator's small convolutions gain little from many threads, and threads that wait on
    each other at every layer slow down badly on a busy machine.
    """

    def __init__(self, conversion: Conversion) -> None:
        import_frozen(CONVERSION_MODULES)
        self.conversion = conversion
        self.device = resolve_device(conversion.settings.device)
        threads = conversion.settings.cpu_threads
        self.cpu_threads = threads if threads > 0 else max(1, (os.cpu_count() or 2) // 2)

    def features(self, audio: np.ndarray) -> Features:
        """Return the content features and f0 of mono ``audio`` at the model's sample rate."""
        with self.threads():
            return compute_features(self.conversion, audio, self.device)

    def generator(self, checkpoint: Path, name: str | None = None) -> Any:
        """Return the generator of ``checkpoint``; :class:`CheckpointLoadError` when it does not load."""
        return load_generator(checkpoint, self.conversion.config_path, self.device, name)

    def decode(self, generator: Any, features: Features) -> np.ndarray:
        """Return what ``generator`` sings from ``features`` (float32, as long as the audio)."""
        with self.threads():
            return decode(generator, features, self.conversion, self.device)

    def convert(self, audio: np.ndarray, checkpoint: Path, name: str | None = None) -> np.ndarray:
        """Return mono ``audio`` (at the model's rate) sung by ``checkpoint``, as ``svc infer`` sings it."""
        return self.decode(self.generator(checkpoint, name), self.features(audio))

    @contextlib.contextmanager
    def threads(self) -> Iterator[None]:
        """Use ``cpu_threads`` torch threads inside the block on the CPU, then restore the count."""
        if self.device != "cpu":
            yield
            return
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.cpu_threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)
