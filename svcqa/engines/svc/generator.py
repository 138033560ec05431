"""A checkpoint's generator: built from its config, loaded strictly, and decoding :class:`Features`.

so-vits-svc-fork loads what fits and only warns about the rest; here any key or shape that does
not fit fails the checkpoint with the reason (a half-loaded generator sings noise). Decoding
joins the chunks as ``Svc.infer_silence`` does, with the decoder's noise seeded once before the
first chunk, so two decodes of the same features with the same checkpoint are the same audio.

Example
-------
>>> misfit_reason("G_5.pth", ["Shape mismatch: emb_g.weight: torch.Size([1, 32]) -> torch.Size([3, 32])"])
'G_5.pth does not fit this model: it was trained for 3 speaker slots, the config has 1. Use it in the workspace it was trained in.'
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.core.errors import SvcqaError
from svcqa.engines.svc.conversion import Conversion
from svcqa.engines.svc.features import Features

_SHAPE_MISMATCH = re.compile(r"emb_g\.weight: torch\.Size\(\[(\d+), \d+\]\) -> torch\.Size\(\[(\d+), \d+\]\)")
_CACHED_GENERATORS = 2
"""Generators kept loaded per process (a render pass loads each checkpoint once anyway)."""


class CheckpointLoadError(SvcqaError):
    """One checkpoint cannot be loaded into the model; its conversions fail, the others go on."""


def load_generator(checkpoint: Path, config_path: Path, device: str, name: str | None = None) -> Any:
    """Return the generator of ``checkpoint`` on ``device``, loaded once per process per file version.

    ``name`` is how messages call the checkpoint (default: its file name). Raises
    :class:`CheckpointLoadError` when the file is missing, unreadable, or does not fit the config.
    """
    label = name or checkpoint.name
    try:
        stat = checkpoint.stat()
        config_mtime_ns = config_path.stat().st_mtime_ns
    except OSError as exc:
        raise CheckpointLoadError(f"{label} cannot be read ({exc.strerror or exc}).") from exc
    return _load(
        str(checkpoint), stat.st_size, stat.st_mtime_ns, str(config_path), config_mtime_ns, device, label
    )


@functools.lru_cache(maxsize=_CACHED_GENERATORS)
def _load(
    checkpoint: str, size: int, mtime_ns: int, config_path: str, config_mtime_ns: int, device: str, name: str
) -> Any:
    from so_vits_svc_fork import utils
    from so_vits_svc_fork.modules.synthesizers import SynthesizerTrn
    from transformers.initialization import no_init_weights

    hps = utils.get_hparams(config_path)
    with warnings.catch_warnings(), no_init_weights():
        # so-vits-svc-fork's own construction warnings (unused config keys, weight norm) say nothing about the checkpoint.
        warnings.simplefilter("ignore")
        # Built without random initialisation, which at real size takes as long as loading (on the
        # meta device instead, torch's Python shape functions spend 0.2 s): every weight comes
        # from the checkpoint, or the checkpoint fails below.
        generator = SynthesizerTrn(
            hps.data.filter_length // 2 + 1, hps.train.segment_size // hps.data.hop_length, **hps.model
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            utils.safe_load(generator, _read_weights(checkpoint))
        except Exception as exc:  # any failure to read a foreign file fails this checkpoint only
            raise CheckpointLoadError(
                f"{name} could not be read as a so-vits-svc-fork generator checkpoint "
                f"({type(exc).__name__}: {exc}). It may be truncated or not a generator (G_*.pth)."
            ) from exc
    misfits = [
        str(w.message) for w in caught if str(w.message).startswith(("Keys not found", "Shape mismatch"))
    ]
    if misfits:
        raise CheckpointLoadError(misfit_reason(name, misfits))
    generator.eval()
    for module in generator.modules():
        utils.remove_weight_norm_if_exists(module)
    return generator.to(device)


def _read_weights(checkpoint: str) -> dict[str, Any]:
    """Return the generator weights of ``checkpoint``, memory-mapped so that the optimizer state
    (two thirds of a file ``svc train`` wrote) is never read; a file of torch's legacy format,
    which cannot be mapped, is read whole."""
    import torch

    try:
        return torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)["model"]
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        return torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]


def misfit_reason(name: str, misfits: list[str]) -> str:
    """Return why the checkpoint ``name`` does not fit the config, from so-vits-svc-fork's warnings."""
    detail = "; ".join(misfits)
    speakers = _SHAPE_MISMATCH.search(detail)
    if speakers:
        config_n, checkpoint_n = speakers.groups()
        return (
            f"{name} does not fit this model: it was trained for {checkpoint_n} speaker slots, the config "
            f"has {config_n}. Use it in the workspace it was trained in."
        )
    return (
        f"{name} does not fit this model's config (another architecture or size): {detail[:400]}. "
        "Use it in the workspace it was trained in."
    )


def decode(generator: Any, features: Features, conversion: Conversion, device: str) -> np.ndarray:
    """Return the audio ``generator`` sings from ``features`` (float32, ``features.n_samples`` long).

    The decoder noise is seeded with ``conversion``'s seed before the first chunk; pauses are silence.
    """
    import torch
    from so_vits_svc_fork import utils

    out = np.zeros(features.n_samples, dtype=np.float32)
    speaker = torch.LongTensor([[conversion.speaker_id]]).to(device)
    shift = 2.0 ** (conversion.transpose_semitones / 12.0)
    torch.manual_seed(conversion.settings.seed)
    with torch.inference_mode():
        for chunk in features.chunks:
            if not chunk.speech:
                continue
            assert chunk.content is not None and chunk.f0_hz is not None and chunk.uv is not None
            frames = chunk.f0_hz.size
            content = utils.repeat_expand_2d(torch.from_numpy(chunk.content), frames).unsqueeze(0).to(device)
            f0 = torch.as_tensor(chunk.f0_hz, dtype=torch.float32, device=device) * shift
            uv = torch.as_tensor(chunk.uv, dtype=torch.float32, device=device).unsqueeze(0)
            sung = (
                generator.infer(
                    content,
                    f0=f0.unsqueeze(0),
                    g=speaker,
                    uv=uv,
                    predict_f0=False,
                    noice_scale=conversion.settings.noise_scale,
                )[0, 0]
                .float()
                .cpu()
                .numpy()
            )
            length = chunk.end - chunk.start
            cut = (sung.size - length) // 2
            piece = sung[cut : cut + length]
            out[chunk.start : chunk.start + piece.size] = piece
    return out
