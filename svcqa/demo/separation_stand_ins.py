"""Random-weight stand-ins in audio-separator's own architectures, for the tests and benchmarks.

:mod:`svcqa.demo.tiny_separation_model` proves the wiring with one-node ONNX graphs; these run
the code of the default models: a BS-Roformer checkpoint with its YAML (the ``vocals`` stage, as
BS-Roformer-Viperx-1297) and two VR ``.pth`` models with their parameters (``dereverb`` as
UVR-DeEcho-DeReverb, a VR 5.1 cascaded net; ``karaoke`` as 5_HP-Karaoke-UVR, a v5 cascaded
ASPP net), under the file names of :class:`~svcqa.core.settings.SeparationSettings`' defaults.
They are registered as audio-separator finds them: the Roformer's file pair in
``download_checks.json``'s ``roformer_download_list``, each VR model in its ``vr_download_list``
and its parameters under its file's MD5 in ``vr_model_data.json``. So ``Separator`` loads them
offline and runs their real chunking, overlap-add, band splitting and resampling; they separate
nothing.

``shapes="small"`` keeps every model a few hundred kB (tests, seconds per song);
``shapes="real"`` builds the defaults' real shapes (Roformer 12 layers 512 wide, about 640 MB; the
VR nets at their published sizes) for :mod:`benchmarks.separate`.

Example
-------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> names = build_separation_stand_ins(folder, shapes="small", stages=("dereverb",))
>>> names
{'dereverb': 'UVR-DeEcho-DeReverb.pth'}
>>> sorted(p.name for p in folder.iterdir())  # doctest: +NORMALIZE_WHITESPACE
['UVR-DeEcho-DeReverb.pth', 'download_checks.json', 'mdx_model_data.json', 'vr_model_data.json']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from svcqa.core.files import atomic_path, atomic_write_json, atomic_write_text
from svcqa.core.records import Record
from svcqa.demo.tiny_separation_model import DOWNLOAD_LIST_KEYS, model_hash
from svcqa.engines.separation_models import DOWNLOAD_CHECKS_FILE, MDX_DATA_FILE, VR_DATA_FILE

SHAPES = ("small", "real")
_SMALLEST_ARCH_KB = 31191
"""The smallest of audio-separator's VR architecture keys (``nn_arch_sizes``)."""

# BS-Roformer-Viperx-1297's YAML (model_bs_roformer_ep_317_sdr_12.9755.yaml) as UVR publishes it.
_VIPERX_BANDS = (2,) * 24 + (4,) * 12 + (12,) * 8 + (24,) * 8 + (48,) * 8 + (128, 129)
ROFORMER_REAL: dict[str, Any] = {
    "audio": {
        "chunk_size": 352800,
        "dim_f": 1024,
        "dim_t": 801,
        "hop_length": 441,
        "n_fft": 2048,
        "num_channels": 2,
        "sample_rate": 44100,
        "min_mean_abs": 0.001,
    },
    "model": {
        "dim": 512,
        "depth": 12,
        "stereo": True,
        "num_stems": 1,
        "time_transformer_depth": 1,
        "freq_transformer_depth": 1,
        "freqs_per_bands": _VIPERX_BANDS,
        "dim_head": 64,
        "heads": 8,
        "attn_dropout": 0.1,
        "ff_dropout": 0.1,
        "flash_attn": True,
        "dim_freqs_in": 1025,
        "stft_n_fft": 2048,
        "stft_hop_length": 441,
        "stft_win_length": 2048,
        "stft_normalized": False,
        "mask_estimator_depth": 2,
        "multi_stft_resolution_loss_weight": 1.0,
        "multi_stft_resolutions_window_sizes": (4096, 2048, 1024, 512, 256),
        "multi_stft_hop_size": 147,
        "multi_stft_normalized": False,
    },
    "training": {
        "batch_size": 16,
        "instruments": ["Vocals", "Instrumental"],
        "target_instrument": "Vocals",
        "use_amp": True,
    },
    "inference": {"batch_size": 1, "dim_t": 801, "num_overlap": 4},
}
"""The structure and shapes of BS-Roformer-Viperx-1297's YAML: 8 s windows, 4 overlapping."""

ROFORMER_SMALL: dict[str, Any] = {
    **ROFORMER_REAL,
    "audio": {
        **ROFORMER_REAL["audio"],
        "chunk_size": 8001,
        "dim_f": 128,
        "dim_t": 126,
        "hop_length": 64,
        "n_fft": 256,
    },
    "model": {
        **ROFORMER_REAL["model"],
        "dim": 16,
        "depth": 1,
        "freqs_per_bands": (16,) * 4 + (32,) * 2 + (1,),
        "dim_head": 8,
        "heads": 2,
        "dim_freqs_in": 129,
        "stft_n_fft": 256,
        "stft_hop_length": 64,
        "stft_win_length": 256,
        "mask_estimator_depth": 1,
    },
    "inference": {"batch_size": 1, "dim_t": 126, "num_overlap": 2},
}
"""The same structure with small shapes: 0.18 s windows, 2 overlapping, 7 bands of 129 bins."""


@dataclass(frozen=True)
class VrStandIn(Record):
    """A VR model: its file name, list name, ``vr_model_data.json`` entry and net size."""

    filename: str
    friendly_name: str
    parameters: dict[str, Any]
    """The ``vr_model_data.json`` entry: ``vr_model_param`` (a band layout shipped with
    audio-separator), ``primary_stem``, and for a VR 5.1 net ``nout``/``nout_lstm``."""
    arch_size_kb: int
    """audio-separator's architecture key: the published file size of the net (in its list)."""


VR_REAL: dict[str, VrStandIn] = {
    "dereverb": VrStandIn(
        "UVR-DeEcho-DeReverb.pth",
        "VR Arch Single Model v5: UVR-DeEcho-DeReverb",
        {"vr_model_param": "4band_v3", "primary_stem": "No Reverb", "nout": 64, "nout_lstm": 128},
        218409,
    ),
    "karaoke": VrStandIn(
        "5_HP-Karaoke-UVR.pth",
        "VR Arch Single Model v5: 5_HP-Karaoke-UVR",
        {"vr_model_param": "4band_v2", "primary_stem": "Instrumental"},
        123821,
    ),
}
"""The VR defaults: a VR 5.1 cascaded net (64 channels, LSTM 128) and a v5 "HP" cascaded ASPP net."""

VR_SMALL: dict[str, VrStandIn] = {
    stage: VrStandIn(
        model.filename,
        model.friendly_name,
        {**model.parameters, "nout": 8, "nout_lstm": 8},
        _SMALLEST_ARCH_KB,
    )
    for stage, model in VR_REAL.items()
}
"""The same models as VR 5.1 nets of 8 channels: the parameters' ``nout`` decide the net, and
audio-separator takes a file of a few MB for its smallest architecture key."""

ROFORMER_FILES = ("model_bs_roformer_ep_317_sdr_12.9755.ckpt", "model_bs_roformer_ep_317_sdr_12.9755.yaml")
ROFORMER_NAME = "Roformer Model: BS-Roformer-Viperx-1297"
STAGES = ("vocals", "dereverb", "karaoke")


def write_roformer(folder: Path, config: dict[str, Any], seed: int = 0) -> tuple[Path, Path]:
    """Write a random BS-Roformer of ``config``'s shape and its YAML under the viperx file names.

    The net is the one audio-separator's own loader builds from that YAML. Returns the
    checkpoint and YAML paths.
    """
    import torch
    from audio_separator.separator.roformer.roformer_loader import RoformerLoader

    checkpoint, config_path = (folder / name for name in ROFORMER_FILES)
    atomic_write_text(config_path, yaml.safe_dump(_lists(config), sort_keys=False))
    torch.manual_seed(seed)
    # Without a checkpoint at the path the loader returns its freshly built, random net.
    loaded = RoformerLoader().load_model(
        str(folder / "absent.ckpt"), yaml.safe_load(config_path.read_text()), "cpu"
    )
    if not loaded.success:
        raise RuntimeError(
            f"audio-separator cannot build a BS-Roformer from {config_path}: {loaded.error_message}"
        )
    with atomic_path(checkpoint) as tmp:
        torch.save(loaded.model.state_dict(), tmp)
    return checkpoint, config_path


def write_vr(folder: Path, model: VrStandIn, seed: int = 0) -> Path:
    """Write a random VR net for ``model`` (the net audio-separator builds for its parameters)."""
    import torch
    from audio_separator.separator.uvr_lib_v5.vr_network import nets, nets_new
    from audio_separator.separator.uvr_lib_v5.vr_network.model_param_init import ModelParameters

    params = ModelParameters(str(_vr_params_dir() / f"{model.parameters['vr_model_param']}.json"))
    n_fft = params.param["bins"] * 2
    torch.manual_seed(seed)
    if "nout" in model.parameters:
        net = nets_new.CascadedNet(
            n_fft, model.arch_size_kb, nout=model.parameters["nout"], nout_lstm=model.parameters["nout_lstm"]
        )
    else:
        net = nets.determine_model_capacity(n_fft, model.arch_size_kb)
    path = folder / model.filename
    with atomic_path(path) as tmp:
        torch.save(net.state_dict(), tmp)
    return path


def build_separation_stand_ins(
    folder: Path, shapes: str = "small", stages: Iterable[str] = STAGES
) -> dict[str, str]:
    """Write stand-ins for the default models of ``stages`` and the data files that register them.

    Parameters
    ----------
    folder : Path
        The model folder (created if missing); its data files are replaced.
    shapes : {"small", "real"}
        Tiny nets for tests, or the defaults' real shapes (about 1 GB, a minute to build).
    stages : iterable of str
        Which of ``vocals`` (BS-Roformer), ``dereverb`` and ``karaoke`` (VR) to write.

    Returns
    -------
    dict
        Stage -> model file name (the :class:`~svcqa.core.settings.SeparationSettings` defaults).
    """
    if shapes not in SHAPES:
        raise ValueError(f"shapes must be one of {', '.join(SHAPES)}, not {shapes!r}")
    folder.mkdir(parents=True, exist_ok=True)
    stages = tuple(stages)
    lists: dict[str, dict[str, Any]] = {key: {} for key in DOWNLOAD_LIST_KEYS}
    vr_data: dict[str, dict[str, Any]] = {}
    names = {}
    if "vocals" in stages:
        write_roformer(folder, ROFORMER_SMALL if shapes == "small" else ROFORMER_REAL)
        lists["roformer_download_list"][ROFORMER_NAME] = {ROFORMER_FILES[0]: ROFORMER_FILES[1]}
        names["vocals"] = ROFORMER_FILES[0]
    vr_models = VR_SMALL if shapes == "small" else VR_REAL
    for stage in (s for s in STAGES[1:] if s in stages):
        model = vr_models[stage]
        vr_data[model_hash(write_vr(folder, model))] = model.parameters
        lists["vr_download_list"][model.friendly_name] = model.filename
        names[stage] = model.filename
    atomic_write_json(folder / VR_DATA_FILE, vr_data)
    atomic_write_json(folder / MDX_DATA_FILE, {})
    atomic_write_json(folder / DOWNLOAD_CHECKS_FILE, lists)
    return names


def _lists(value: Any) -> Any:
    """Return ``value`` with tuples as lists, as a YAML file without Python tags holds them."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    return value


def _vr_params_dir() -> Path:
    from importlib import resources

    return (
        Path(str(resources.files("audio_separator")))
        / "separator"
        / "uvr_lib_v5"
        / "vr_network"
        / "modelparams"
    )
