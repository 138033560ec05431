"""Tiny offline stand-ins for audio-separator models, for the tests and the demo workspace.

audio-separator finds an MDX model's parameters by the MD5 hash of the model file in
``mdx_model_data.json`` and finds its file list in ``download_checks.json``; both can live in the
model folder, and files already there are never downloaded. A one-node ONNX graph
(``output = gain * input``) with the MDX input shape, saved under a supported file name next to
those data files, therefore runs through the real ``Separator`` on CPU without a network. It
separates nothing; it proves the wiring (stem names, sample rate, length).

Example
-------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> names = build_tiny_separation_models(folder, stages=("vocals",))
>>> names
{'vocals': 'UVR-MDX-NET-Inst_HQ_5.onnx'}
>>> sorted(p.name for p in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
['UVR-MDX-NET-Inst_HQ_5.onnx', 'download_checks.json', 'mdx_model_data.json',
 'vr_model_data.json']
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
from onnx import TensorProto, helper

from svcqa.core.files import atomic_path, atomic_write_json
from svcqa.core.records import Record
from svcqa.engines.separation_models import DOWNLOAD_CHECKS_FILE, MDX_DATA_FILE, VR_DATA_FILE

# The keys audio-separator 0.47.1 reads from UVR's download_checks.json.
DOWNLOAD_LIST_KEYS: tuple[str, ...] = (
    "vr_download_list",
    "mdx_download_list",
    "mdx_download_vip_list",
    "demucs_download_list",
    "mdx23c_download_list",
    "mdx23c_download_vip_list",
    "roformer_download_list",
)

# audio-separator hashes the whole file, or only its last 10,240,000 bytes when it is larger.
HASH_TAIL_BYTES = 10_000 * 1024

# MDX input: [batch, 4 (stereo real/imag), dim_f bins, dim_t = 2 ** mdx_dim_t_set frames].
_DIM_F = 2560
_DIM_T_SET = 8
_ONNX_OPSET = 13


@dataclass(frozen=True)
class TinyModel(Record):
    """One stand-in: a supported file name, its list name and the parameters it is hashed to."""

    filename: str
    friendly_name: str
    primary_stem: str
    gain: float
    """Output = gain x input; different gains give different files, hence different hashes."""

    def mdx_parameters(self) -> dict[str, Any]:
        """Return the ``mdx_model_data.json`` entry (UVR-MDX-NET-Inst_HQ_5's bundled shape)."""
        return {
            "compensate": 1.01,
            "mdx_dim_f_set": _DIM_F,
            "mdx_dim_t_set": _DIM_T_SET,
            "mdx_n_fft_scale_set": 5120,
            "primary_stem": self.primary_stem,
        }


# One stand-in per separation stage. The stems they write follow from primary_stem:
# Instrumental/Vocals for "vocals" and "karaoke", Reverb/No Reverb for "dereverb".
TINY_MODELS: dict[str, TinyModel] = {
    "vocals": TinyModel(
        "UVR-MDX-NET-Inst_HQ_5.onnx", "MDX-Net Model: UVR-MDX-NET Inst HQ 5", "Instrumental", 0.5
    ),
    "dereverb": TinyModel("Reverb_HQ_By_FoxJoy.onnx", "MDX-Net Model: Reverb HQ By FoxJoy", "Reverb", 0.25),
    "karaoke": TinyModel(
        "UVR_MDXNET_KARA_2.onnx", "MDX-Net Model: UVR-MDX-NET Karaoke 2", "Instrumental", 0.75
    ),
}


def model_hash(path: Path) -> str:
    """Return the MD5 hex digest audio-separator uses to look a model file up.

    Parameters
    ----------
    path : Path
        The model file.

    Returns
    -------
    str
        MD5 of the whole file, or of its last 10,240,000 bytes when it is larger.
    """
    size_bytes = path.stat().st_size
    with path.open("rb") as handle:
        if size_bytes >= HASH_TAIL_BYTES:
            handle.seek(size_bytes - HASH_TAIL_BYTES)
        return hashlib.md5(handle.read()).hexdigest()


def write_gain_onnx(path: Path, gain: float) -> Path:
    """Write a one-node ONNX model ``output = gain * input`` with the MDX input shape.

    Parameters
    ----------
    path : Path
        Where the ``.onnx`` file goes (overwritten).
    gain : float
        The constant multiplier.

    Returns
    -------
    Path
        ``path``.
    """
    shape: list[int | str] = ["batch", 4, _DIM_F, 2**_DIM_T_SET]
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "gain"], ["output"])],
        "tiny_mdx",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)],
        initializer=[helper.make_tensor("gain", TensorProto.FLOAT, [], [gain])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _ONNX_OPSET)])
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    return path


def build_tiny_separation_models(folder: Path, stages: Iterable[str] = tuple(TINY_MODELS)) -> dict[str, str]:
    """Write stand-in models and the three data files audio-separator needs offline.

    Parameters
    ----------
    folder : Path
        The model folder (created if missing). Existing data files there are replaced.
    stages : iterable of str
        Which of ``TINY_MODELS`` to write (default all: vocals, dereverb, karaoke).

    Returns
    -------
    dict
        Stage -> model file name, ready to put into ``SeparationSettings``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {stage: TINY_MODELS[stage] for stage in stages}
    mdx_data: dict[str, dict[str, Any]] = {}
    for tiny in chosen.values():
        path = write_gain_onnx(folder / tiny.filename, tiny.gain)
        mdx_data[model_hash(path)] = tiny.mdx_parameters()
    download_lists: dict[str, dict[str, str]] = {key: {} for key in DOWNLOAD_LIST_KEYS}
    download_lists["mdx_download_list"] = {t.friendly_name: t.filename for t in chosen.values()}
    atomic_write_json(folder / MDX_DATA_FILE, mdx_data)
    atomic_write_json(folder / VR_DATA_FILE, {})
    atomic_write_json(folder / DOWNLOAD_CHECKS_FILE, download_lists)
    return {stage: tiny.filename for stage, tiny in chosen.items()}
