"""resemblyzer's GE2E speaker encoder without torch or librosa: numpy features, onnxruntime network.

The weights are resemblyzer's own (``pretrained.pt`` in its wheel), read here without torch:
the file is torch's legacy format, a few pickles (the tensors as references to storages,
restricted here to the classes such a file holds) followed by each storage's raw bytes. The
features are resemblyzer's: a 40-band mel power spectrogram of 25 ms windows every 10 ms
(librosa's ``melspectrogram`` defaults, Slaney mel scale) after raising quiet audio to -30 dBFS.
The network, a three-layer LSTM (256 units) whose last hidden state goes through a linear
layer, a ReLU and unit-length normalisation, is built as an ONNX graph from those weights and
run by onnxruntime (which DNSMOS uses too), as fast as torch.

Importing torch, resemblyzer and librosa costs an audit worker about 3.5 s of CPU before its
first clip; this module needs numpy, onnx and onnxruntime (0.3 s). ``tests/test_voice_identity.py``
checks it against resemblyzer's torch encoder.

Example
-------
>>> encoder = load_ge2e()  # doctest: +SKIP
>>> encoder.embed(np.zeros((2, 25_600), np.float32) + 0.01).shape  # doctest: +SKIP
(2, 256)
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from svcqa.core.errors import ModelMissingError

SAMPLE_RATE_HZ = 16_000
N_FFT = 400
"""25 ms windows at 16 kHz."""
HOP = 160
"""10 ms hop."""
N_MELS = 40
NORM_TARGET_DBFS = -30.0
"""resemblyzer raises quiet audio to this level before the mel spectrogram."""
_LAYERS = 3
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES: dict[str, type] = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass(eq=False)
class _Storage:
    dtype: type
    values: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        values = self.storage.values
        assert values is not None
        strides = tuple(s * values.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(values[self.offset :], self.shape, strides).copy()


class _LegacyUnpickler(pickle.Unpickler):
    """Unpickles torch's legacy checkpoint body: only dicts, tensors and storages are allowed."""

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, shape, stride, *_: _TensorRef(
                storage, offset, tuple(shape), tuple(stride)
            )
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        _kind, dtype, key = pid[:3]
        return self._storages.setdefault(key, _Storage(dtype))


def read_torch_legacy(path: Path) -> dict[str, Any]:
    """Return the object saved in a torch legacy-format file, tensors as numpy arrays.

    Raises
    ------
    ValueError
        The file is not a torch legacy-format checkpoint.
    """
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as file:
        if pickle.load(file) != _TORCH_MAGIC:
            raise ValueError(f"{path} is not a torch legacy-format file")
        pickle.load(file)  # protocol version
        pickle.load(file)  # system info
        saved = _LegacyUnpickler(file, storages).load()
        for key in pickle.load(file):
            storage = storages[key]
            (count,) = struct.unpack("<q", file.read(8))
            size = count * np.dtype(storage.dtype).itemsize
            storage.values = np.frombuffer(file.read(size), dtype=storage.dtype)

    def plain(value: Any) -> Any:
        if isinstance(value, _TensorRef):
            return value.array()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(saved)


def hz_to_mel(freqs_hz: np.ndarray) -> np.ndarray:
    """Return the Slaney mel value of each frequency (linear below 1 kHz, logarithmic above)."""
    freqs_hz = np.asarray(freqs_hz, dtype=np.float64)
    linear = freqs_hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    return np.where(
        freqs_hz >= 1000.0, 15.0 + np.log(np.maximum(freqs_hz, 1e-10) / 1000.0) / log_step, linear
    )


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Return the frequency of each Slaney mel value (the inverse of :func:`hz_to_mel`)."""
    mels = np.asarray(mels, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(log_step * (mels - 15.0)), mels * (200.0 / 3))


@functools.lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    """Return the ``(40, 201)`` Slaney-normalised triangular mel filters from 0 Hz to 8 kHz (librosa's)."""
    fft_hz = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE_HZ)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE_HZ / 2), N_MELS + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_frames(blocks: np.ndarray) -> np.ndarray:
    """Return resemblyzer's features of each block: ``(n, frames, 40)`` mel power, centred frames.

    Each block is first raised to -30 dBFS when quieter (never lowered), as resemblyzer's
    ``normalize_volume(..., increase_only=True)`` does over the whole input.
    """
    import scipy.fft

    blocks = np.asarray(blocks, dtype=np.float32)
    mean_square = float(np.mean(np.square(blocks, dtype=np.float64))) if blocks.size else 0.0
    change_db = NORM_TARGET_DBFS - 10.0 * np.log10(mean_square) if mean_square > 0 else 0.0
    if change_db > 0:
        blocks = blocks * np.float32(10.0 ** (change_db / 20.0))
    padded = np.pad(blocks, ((0, 0), (N_FFT // 2, N_FFT // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)[:, ::HOP]
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spectrum = scipy.fft.rfft(frames * window, axis=2)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return power @ mel_basis().T


@dataclass(frozen=True, eq=False)
class GE2E:
    """The encoder as an onnxruntime session (one thread: the audit runs one worker per core)."""

    session: Any

    def forward(self, mels: np.ndarray) -> np.ndarray:
        """Return the unit-length embeddings of ``mels`` ``(n, frames, 40)``, ``(n, 256)``."""
        steps_first = np.ascontiguousarray(np.swapaxes(np.asarray(mels, dtype=np.float32), 0, 1))
        raw = self.session.run(None, {"mels": steps_first})[0]
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.where(norms == 0, 1.0, norms)

    def embed(self, blocks: np.ndarray, frames: int = 160) -> np.ndarray:
        """Return the embedding of each 16 kHz block ``(n, samples)``: its first ``frames`` mel frames through the network."""
        return self.forward(mel_frames(blocks)[:, :frames])


def onnx_model(state: dict[str, np.ndarray]) -> bytes:
    """Return the GE2E network with the weights of ``state`` (resemblyzer's names) as an ONNX model.

    Three ONNX LSTM nodes (torch's gate order input, forget, cell, output becomes ONNX's input,
    output, forget, cell), then the linear layer and the ReLU on the last hidden state.
    """
    import onnx
    from onnx import helper, numpy_helper

    def gates(weights: np.ndarray) -> np.ndarray:
        i, f, c, o = np.split(weights, 4, axis=0)
        return np.concatenate([i, o, f, c], axis=0)

    nodes, weights = (
        [],
        [
            numpy_helper.from_array(np.array([0], np.int64), "axis0"),
            numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        ],
    )
    layer_input = "mels"
    for k in range(_LAYERS):
        bias = np.concatenate([gates(state[f"lstm.bias_ih_l{k}"]), gates(state[f"lstm.bias_hh_l{k}"])])
        weights += [
            numpy_helper.from_array(gates(state[f"lstm.weight_ih_l{k}"])[None], f"w{k}"),
            numpy_helper.from_array(gates(state[f"lstm.weight_hh_l{k}"])[None], f"r{k}"),
            numpy_helper.from_array(bias[None], f"b{k}"),
        ]
        hidden_size = state[f"lstm.weight_hh_l{k}"].shape[1]
        nodes.append(
            helper.make_node(
                "LSTM", [layer_input, f"w{k}", f"r{k}", f"b{k}"], [f"y{k}", f"h{k}"], hidden_size=hidden_size
            )
        )
        nodes.append(helper.make_node("Squeeze", [f"y{k}", "axis1"], [f"out{k}"]))
        layer_input = f"out{k}"
    weights += [
        numpy_helper.from_array(state["linear.weight"], "linear_w"),
        numpy_helper.from_array(state["linear.bias"], "linear_b"),
    ]
    nodes += [
        helper.make_node("Squeeze", [f"h{_LAYERS - 1}", "axis0"], ["last"]),
        helper.make_node("Gemm", ["last", "linear_w", "linear_b"], ["linear"], transB=1),
        helper.make_node("Relu", ["linear"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "ge2e",
        [helper.make_tensor_value_info("mels", onnx.TensorProto.FLOAT, ["frames", "blocks", N_MELS])],
        [
            helper.make_tensor_value_info(
                "embedding", onnx.TensorProto.FLOAT, ["blocks", state["linear.bias"].shape[0]]
            )
        ],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def weights_path() -> Path:
    """Return where resemblyzer's wheel keeps its encoder weights.

    Raises
    ------
    ModelMissingError
        resemblyzer is not installed.
    """
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            "Voice consistency needs the weights in the resemblyzer package. Install it with "
            "`pip install resemblyzer 'setuptools<81'`, or turn off voice.embed_voices."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


@functools.lru_cache(maxsize=1)
def load_ge2e() -> GE2E:
    """Return the GE2E encoder with resemblyzer's weights, loaded once per process.

    Raises
    ------
    ModelMissingError
        resemblyzer (its weights file), onnx or onnxruntime is not installed.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    model = onnx_model(read_torch_legacy(weights_path())["model_state"])
    return GE2E(onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"]))
