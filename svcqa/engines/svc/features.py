"""Content features and f0 of some audio, cut at pauses and padded exactly as ``svc infer`` cuts a file.

so-vits-svc-fork's own ``split_silence``, ``compute_f0``, ``interpolate_f0`` and ``get_content``
do the work, with ``Svc.infer_silence``'s chunk sizes; a pause carries no features and is
decoded as silence. :class:`Features` can be saved and loaded (``.npz``), so a renderer
computes them once per excerpt and every checkpoint only decodes.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svcqa.core.files import atomic_write_bytes
from svcqa.engines.svc.contentvec import load_contentvec
from svcqa.engines.svc.conversion import Conversion


@dataclass(frozen=True, eq=False)
class FeatureChunk:
    """One piece of the audio as ``svc infer`` cuts it: samples ``start``-``end``.

    A sung (``speech``) chunk carries the features of its padded audio: ``content``
    [shape=(hidden, frames)] from ContentVec, ``f0_hz`` (unvoiced gaps interpolated) and ``uv``
    (1 where voiced), one value per hop; a pause has none and is decoded as silence.
    """

    start: int
    end: int
    content: np.ndarray | None = None
    f0_hz: np.ndarray | None = None
    uv: np.ndarray | None = None

    @property
    def speech(self) -> bool:
        """Return True for a chunk the generator sings."""
        return self.content is not None


@dataclass(frozen=True, eq=False)
class Features:
    """The content features and f0 of some audio, chunk by chunk, made with ``features_hash``."""

    features_hash: str
    n_samples: int
    chunks: tuple[FeatureChunk, ...]

    @property
    def voiced(self) -> bool:
        """Return True when the pitch tracker found at least one sung frame."""
        return any(chunk.uv is not None and bool(np.any(chunk.uv > 0)) for chunk in self.chunks)

    def save(self, path: Path) -> None:
        """Write the features to ``path`` (``.npz``) atomically."""
        arrays: dict[str, np.ndarray] = {}
        layout = []
        for i, chunk in enumerate(self.chunks):
            layout.append([chunk.start, chunk.end, chunk.speech])
            if chunk.speech:
                assert chunk.content is not None and chunk.f0_hz is not None and chunk.uv is not None
                arrays[f"content_{i}"] = chunk.content
                arrays[f"f0_{i}"] = chunk.f0_hz
                arrays[f"uv_{i}"] = chunk.uv
        meta = {"features_hash": self.features_hash, "n_samples": self.n_samples, "chunks": layout}
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(json.dumps(meta)), **arrays)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Features:
        """Return the features saved at ``path`` by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            chunks = tuple(
                FeatureChunk(start, end, data[f"content_{i}"], data[f"f0_{i}"], data[f"uv_{i}"])
                if speech
                else FeatureChunk(start, end)
                for i, (start, end, speech) in enumerate(meta["chunks"])
            )
        return cls(meta["features_hash"], int(meta["n_samples"]), chunks)


def compute_features(conversion: Conversion, audio: np.ndarray, device: str) -> Features:
    """Return the features of mono ``audio`` at the model's rate, cut and padded as
    ``Svc.infer_silence`` does; ContentVec is loaded (once per process) at the first sung chunk."""
    import so_vits_svc_fork.f0
    from so_vits_svc_fork import utils
    from so_vits_svc_fork.inference.core import split_silence

    rate = conversion.sample_rate_hz
    slicing = conversion.slicing
    audio = np.asarray(audio, dtype=np.float32)
    chunks: list[FeatureChunk] = []
    if not np.any(audio):
        return Features(conversion.features_hash, int(audio.size), (FeatureChunk(0, int(audio.size)),))
    half_frame = int(min(rate / so_vits_svc_fork.f0.f0_min * 20 + 1, slicing["chunk_seconds"] * rate)) // 2
    pad = np.zeros(int(rate * slicing["pad_seconds"]), dtype=np.float32)
    for chunk in split_silence(
        audio,
        top_db=-slicing["db_thresh"],
        frame_length=half_frame * 2,
        hop_length=half_frame,
        ref=1 if slicing["absolute_thresh"] else np.max,
        max_chunk_length=int(slicing["max_chunk_seconds"] * rate),
    ):
        start, end = int(chunk.start), int(chunk.end)
        if not chunk.is_speech:
            chunks.append(FeatureChunk(start, end))
            continue
        padded = np.concatenate([pad, chunk.audio, pad])
        f0 = so_vits_svc_fork.f0.compute_f0(
            padded, sampling_rate=rate, hop_length=conversion.hop_samples, method=conversion.f0_method
        )
        f0, uv = so_vits_svc_fork.f0.interpolate_f0(f0)
        contentvec = load_contentvec(conversion.contentvec_snapshot, conversion.contentvec_final_proj, device)
        content = utils.get_content(contentvec, padded, device, rate, conversion.contentvec_final_proj)
        chunks.append(
            FeatureChunk(
                start,
                end,
                content[0].float().cpu().numpy(),
                np.asarray(f0, dtype=np.float32),
                np.asarray(uv, dtype=np.float32),
            )
        )
    return Features(conversion.features_hash, int(audio.size), tuple(chunks))
