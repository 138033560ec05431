"""Test audio written to disk: generated sung clips and folder fingerprints."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from svcqa.demo.synth import sung_phrase

SR = 44_100


def write_clip(
    path: Path,
    duration_s: float = 6.0,
    sample_rate_hz: int = SR,
    samples: np.ndarray | None = None,
    subtype: str | None = "PCM_16",
    seed: int = 0,
) -> Path:
    """Write a sung phrase of ``duration_s`` (or the given samples) to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if samples is None:
        n_notes = max(int(duration_s), 1)
        samples = sung_phrase(
            [57 + (i * 3 + seed) % 12 for i in range(n_notes)],
            duration_s / n_notes,
            sample_rate_hz,
            seed=seed,
        )
    sf.write(path, samples, sample_rate_hz, subtype=subtype)
    return path


def tree_fingerprint(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Return path -> (sha256, size, mtime_ns) of every file under ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[path.relative_to(folder).as_posix()] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                st.st_size,
                st.st_mtime_ns,
            )
    return out


def wav_header_claiming(channels: int, size_bytes: int = 1000) -> bytes:
    """Return a ``size_bytes`` WAV of silence whose header claims ``channels`` channels."""
    data = bytes(size_bytes - 44)
    fmt = struct.pack(
        "<IHHIIHH", 16, 1, channels, SR, (SR * channels * 2) & 0xFFFFFFFF, (channels * 2) & 0xFFFF, 16
    )
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
