"""The GE2E encoder without torch: resemblyzer's weights read from its legacy .pt file, numpy mel
features, the LSTM on onnxruntime; the same embeddings as resemblyzer's own torch encoder."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from svcqa.dataset import ge2e
from tests import singer_corpus
from tests.voice_corpus import speak


def _blocks() -> np.ndarray:
    """Five 1.6 s blocks: generated singing (quiet, so the level is raised) and espeak-ng speech."""
    sung = singer_corpus.sung_clip(singer_corpus.SINGER_A, seed=3, duration_s=6.0)[: 3 * 25_600] * 0.05
    spoken = speak(singer_corpus.SPEAKER_TEXTS[0], "en", 160, 50)[: 2 * 25_600]
    return np.concatenate([sung, spoken]).reshape(-1, 25_600).astype(np.float32)


def test_embeddings_match_resemblyzers_torch_encoder() -> None:
    torch = pytest.importorskip("torch")
    librosa = pytest.importorskip("librosa")
    resemblyzer = pytest.importorskip("resemblyzer")
    from resemblyzer.audio import normalize_volume

    blocks = _blocks()
    levelled = normalize_volume(blocks.reshape(-1), ge2e.NORM_TARGET_DBFS, increase_only=True).reshape(
        blocks.shape
    )
    mels = librosa.feature.melspectrogram(y=levelled, sr=16_000, n_fft=400, hop_length=160, n_mels=40)
    with torch.no_grad():
        expected = resemblyzer.VoiceEncoder("cpu", verbose=False)(
            torch.from_numpy(np.ascontiguousarray(np.swapaxes(mels, 1, 2)[:, :160], dtype=np.float32))
        ).numpy()
    embedded = ge2e.load_ge2e().embed(blocks)
    assert embedded.shape == (5, 256)
    np.testing.assert_allclose(embedded, expected, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), 1.0, atol=1e-5)


def test_mel_filters_are_librosas_slaney_filters() -> None:
    librosa = pytest.importorskip("librosa")
    np.testing.assert_allclose(
        ge2e.mel_basis(), librosa.filters.mel(sr=16_000, n_fft=400, n_mels=40), atol=1e-7
    )


def test_weights_load_once_and_hold_the_three_layer_network() -> None:
    state = ge2e.read_torch_legacy(ge2e.weights_path())["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert state["lstm.weight_hh_l2"].shape == (1024, 256)
    assert state["linear.weight"].shape == (256, 256)
    assert ge2e.load_ge2e() is ge2e.load_ge2e()


def test_files_that_are_not_torch_checkpoints_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "not_torch.pt"
    other.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="not a torch"):
        ge2e.read_torch_legacy(other)
    sneaky = tmp_path / "sneaky.pt"
    sneaky.write_bytes(b"".join(pickle.dumps(part) for part in (0x1950A86A20F9469CFC6C, 1001, {}, Path("x"))))
    with pytest.raises(pickle.UnpicklingError, match="unexpected"):
        ge2e.read_torch_legacy(sneaky)


def test_silent_blocks_give_a_defined_embedding() -> None:
    embedded = ge2e.load_ge2e().embed(np.zeros((2, 25_600), dtype=np.float32))
    assert np.all(np.isfinite(embedded))
