"""The cover's convert stage: dry vocals in, the model's voice out, through the render's engine.

:class:`EngineConverter` converts in this process with :class:`svcqa.engines.svc.SvcConverter`,
the engine renders use, so the converted vocals equal a render of the same audio with the same
checkpoint and settings (before the render's loudness matching). A :class:`Converter` is anything
with a ``name`` (part of the stage's cache key) and ``convert``; tests use a stand-in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from svcqa.audio.decode import read
from svcqa.audio.encode import write_wav
from svcqa.core.settings import ConversionSettings
from svcqa.core.workspace import Workspace
from svcqa.engines import svc
from svcqa.engines.svc import install
from svcqa.engines.svc.conversion import FEATURES_VERSION

CONVERTED_SUBTYPE = "FLOAT"
"""WAV sample format of the converted vocals: the engine's float32 samples, unrounded."""


@dataclass(frozen=True)
class ConversionInput:
    """One file to convert: dry vocals in, the model's voice out."""

    vocals: Path
    out: Path
    checkpoint: Path
    config: Path
    speaker: str
    f0_method: str
    transpose_semitones: int
    settings: ConversionSettings


class Converter(Protocol):
    """Turns dry vocals into the model's voice; ``name`` is part of the convert stage's key."""

    name: str

    def convert(self, job: ConversionInput, echo: Callable[[str], None] | None) -> None:
        """Write ``job.out`` atomically (never half a file under that name); raise
        :class:`SvcqaError` with the reason when it cannot."""


def engine_name() -> str:
    """Return the name of the engine's conversions (changes with so-vits-svc-fork or the engine)."""
    return f"svcqa-engine-{FEATURES_VERSION}-so-vits-svc-fork-{install.version()}"


@dataclass(frozen=True)
class EngineConverter:
    """The conversion engine in this process, on the device of the conversion settings."""

    workspace: Workspace
    env: Mapping[str, str] | None = None
    """Extra environment variables deciding which ContentVec is used (e.g. ``HF_HOME``)."""

    @property
    def name(self) -> str:
        """Return :func:`engine_name`."""
        return engine_name()

    def convert(self, job: ConversionInput, echo: Callable[[str], None] | None) -> None:
        """Convert ``job.vocals`` into ``job.out`` (float WAV at the model's rate)."""
        say = echo or (lambda _line: None)
        conversion = svc.resolve_conversion(
            self.workspace,
            job.settings,
            f0_method=job.f0_method,
            transpose_semitones=job.transpose_semitones,
            speaker=job.speaker,
            env=self.env,
            config_path=job.config,
        )
        started = time.perf_counter()
        audio, _ = read(job.vocals, conversion.sample_rate_hz, mono=True)
        converter = svc.SvcConverter(conversion)
        say(f"Converting {job.vocals.name} with {job.checkpoint.name} on {converter.device}.")
        sung = converter.convert(audio, job.checkpoint)
        write_wav(job.out, sung, conversion.sample_rate_hz, CONVERTED_SUBTYPE)
        say(
            f"Converted {audio.size / conversion.sample_rate_hz:.1f} s in {time.perf_counter() - started:.1f} s."
        )
