"""Whose voice is this? A speaker embedding per clip and the dataset's voice as a robust centroid.

Method
------
Each clip is embedded with resemblyzer's GE2E speaker encoder (256 numbers, unit length,
trained on speech; run without torch, :mod:`svcqa.dataset.ge2e`). For speed only a bounded part is embedded: the clip is cut into 1.6 s
blocks (one GE2E "partial" each), blocks quieter than ``silence_dbfs`` are dropped, and the
loudest blocks up to ``embed_max_s`` go through the encoder in one batch; the clip's embedding
is the normalised mean of the block embeddings, as resemblyzer's ``embed_utterance`` does.

The dataset's voice is a robust centroid: start from the normalised coordinate-wise median of
the embeddings, then ``centroid_iterations`` times take the mean of the clips most similar to
it, leaving out the ``centroid_trim_share`` least similar ones. A few clips of another singer
therefore do not pull the centroid towards themselves.

Only clean evidence is judged: a clip that is noisy, too short or mostly silent
(:func:`svcqa.dataset.dataset_voice.identity_flags`) is compared with the centroid but takes no
part in it and gets no verdict. A judged clip is ``other_voice`` when its cosine similarity to
the centroid is under ``median - other_voice_mad_k * spread`` (spread: 1.4826 x the median
absolute deviation, at least ``other_voice_min_spread``) or under the absolute
``other_voice_floor``.

What it can and cannot tell
---------------------------
* espeak-ng speech: the same voice reads 0.93-0.98, other voices 0.70-0.84 and are flagged;
  a variant of the same voice with only another pitch (``en+m3``, 0.93) is not.
* Generated singing (``benchmarks/voice_checks.py``): clips of one singer read 0.92-0.98; a
  second singer with formants 25-35 % higher and a range 8-12 semitones higher reads
  0.71-0.85 and is flagged in 30 of 30 planted clips, with no false flag in 150 clips.
* The encoder hears timbre, not identity, and it was trained on speech. The register moves
  it: the same generated voice sung ten semitones higher reads 0.83-0.88 and is flagged
  (five semitones: 0.88-0.94, not flagged); the vowels move it: a one-vowel phrase reads
  about 0.76 against a centroid of clips with lyric-like vowels. A real singer's falsetto,
  whisper or belt can therefore trip the flag, and two similar singers can pass it. The
  flag is a screen for listening, not a verdict.

Example
-------
>>> from svcqa.demo.synth import sung_phrase
>>> audio = sung_phrase([57, 60, 64, 62, 60], note_s=0.8, sample_rate_hz=16_000)
>>> len(clip_embedding(audio))  # doctest: +SKIP
256
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from svcqa.core.errors import ModelMissingError
from svcqa.core.records import Record
from svcqa.core.settings import VoiceSettings
from svcqa.dataset.pitch import prepare_mono
from svcqa.dataset.threads import one_blas_thread

if TYPE_CHECKING:
    from svcqa.dataset.ge2e import GE2E

ENCODER_SAMPLE_RATE_HZ = 16_000
"""Sample rate resemblyzer's encoder was trained at; inputs must already be at this rate."""
BLOCK_SAMPLES = 25_600
"""One GE2E partial: 160 mel frames of 10 ms, 1.6 s at 16 kHz."""
_MEL_FRAMES = 160
_MAD_TO_SIGMA = 1.4826
METHODS: tuple[str, ...] = ("mad", "floor")


@dataclass(frozen=True)
class ClipEmbedding(Record):
    """The GE2E embedding of one clip, or why there is none.

    Attributes
    ----------
    vector : tuple of float or None
        256 non-negative numbers of unit length; ``None`` when the clip is silent or too short.
    embedded_s : float
        Seconds of audio that went through the encoder.
    reason : str
        Why ``vector`` is ``None``; empty otherwise.
    """

    vector: tuple[float, ...] | None
    embedded_s: float
    reason: str = ""


@dataclass(frozen=True)
class VoiceConsistency(Record):
    """The dataset's voice and how far each clip is from it.

    Attributes
    ----------
    centroid : tuple of float or None
        The robust centroid (unit length); ``None`` when no clip has an embedding.
    similarity : dict
        Clip name -> cosine similarity to the centroid (``None`` for clips without embedding).
    other_voice : tuple of str
        Names of the clips flagged ``other_voice``, in the order given.
    threshold : float or None
        Similarity under which a clip is flagged; ``None`` when nothing can be flagged.
    median_similarity, spread : float or None
        Median similarity and the robust spread behind the threshold.
    map_xy : dict
        Clip name -> ``(x, y)``, the embeddings projected on their first two principal axes.
    map_explained : tuple of float
        Share of the embeddings' variance along each map axis.
    method : str
        The outlier rule used (one of :data:`METHODS`).
    centroid_clips : int
        How many clips (with clean evidence) the centroid and the threshold come from.
    message : str
        Why nothing was flagged when that was decided by the data (too few clips); empty otherwise.

    Example
    -------
    >>> vc = voice_consistency({"a.wav": [1.0, 0.0], "b.wav": [0.9, 0.1], "c.wav": None}, VoiceSettings())
    >>> vc.similarity["c.wav"] is None, vc.other_voice
    (True, ())
    """

    centroid: tuple[float, ...] | None
    similarity: dict[str, float | None]
    other_voice: tuple[str, ...]
    threshold: float | None
    median_similarity: float | None
    spread: float | None
    map_xy: dict[str, tuple[float, float]] = field(default_factory=dict)
    map_explained: tuple[float, float] = (0.0, 0.0)
    method: str = "mad"
    centroid_clips: int = 0
    message: str = ""

    def explain(self, name: str) -> str:
        """Return one sentence on clip ``name``'s similarity, for a flag's detail text."""
        value = self.similarity.get(name)
        if value is None:
            return "No voice embedding (the clip is silent or too short)."
        text = (
            f"Similarity {value:.2f} to the dataset's voice (the robust centroid of "
            f"{self.centroid_clips} clean clips; their median {self.median_similarity:.2f}"
        )
        if self.threshold is not None:
            text += f", flagged under {self.threshold:.2f}"
        return text + ")."


def load_encoder() -> GE2E:
    """Return the GE2E encoder (resemblyzer's weights, run by onnxruntime), loaded once per process.

    Raises
    ------
    ModelMissingError
        resemblyzer (its weights), onnx or onnxruntime is not installed.
    """
    try:
        from svcqa.dataset.ge2e import load_ge2e

        return load_ge2e()
    except ImportError as exc:
        raise ModelMissingError(
            f"Voice consistency needs onnx and onnxruntime ({exc}). Install them, or turn off voice.embed_voices."
        ) from exc


def loudest_blocks(mono_16k: np.ndarray, settings: VoiceSettings) -> np.ndarray:
    """Return the loudest non-silent 1.6 s blocks of ``mono_16k`` in time order, ``(n, 25600)``.

    A clip shorter than one block is zero-padded into one block, as resemblyzer pads its last
    partial. At most ``embed_max_s`` seconds are returned; no block at all when every block is
    quieter than ``silence_dbfs``.
    """
    audio = prepare_mono(mono_16k)
    if audio.size < BLOCK_SAMPLES:
        audio = np.pad(audio, (0, BLOCK_SAMPLES - audio.size))
    n_blocks = audio.size // BLOCK_SAMPLES
    blocks = audio[: n_blocks * BLOCK_SAMPLES].reshape(n_blocks, BLOCK_SAMPLES)
    rms_dbfs = 10.0 * np.log10(np.mean(np.square(blocks, dtype=np.float64), axis=1) + 1e-20)
    loud = np.flatnonzero(rms_dbfs >= settings.silence_dbfs)
    keep = max(1, round(settings.embed_max_s * ENCODER_SAMPLE_RATE_HZ / BLOCK_SAMPLES))
    chosen = loud[np.argsort(-rms_dbfs[loud], kind="stable")[:keep]]
    return blocks[np.sort(chosen)]


def embed_clip(mono_16k: np.ndarray, settings: VoiceSettings | None = None) -> ClipEmbedding:
    """Return the GE2E embedding of a clip's loudest blocks, or ``None`` with the reason.

    Parameters
    ----------
    mono_16k : np.ndarray [shape=(n,)]
        Mono audio at 16 kHz, float in [-1, 1]; NaN/inf count as 0.
    settings : VoiceSettings, optional
        Uses ``embed_max_s``, ``embed_min_s`` and ``silence_dbfs``.

    Raises
    ------
    ModelMissingError
        resemblyzer is not installed.
    """
    settings = settings or VoiceSettings()
    audio = prepare_mono(mono_16k)
    duration_s = audio.size / ENCODER_SAMPLE_RATE_HZ
    if duration_s < settings.embed_min_s:
        return ClipEmbedding(
            None, 0.0, f"too short for a voice embedding ({duration_s:.2f} s < {settings.embed_min_s:g} s)"
        )
    blocks = loudest_blocks(audio, settings)
    if blocks.shape[0] == 0:
        return ClipEmbedding(None, 0.0, f"silent: no 1.6 s block above {settings.silence_dbfs:g} dBFS")
    vector = _embed_blocks(blocks)
    embedded_s = round(min(blocks.size, audio.size) / ENCODER_SAMPLE_RATE_HZ, 3)
    return ClipEmbedding(tuple(round(float(v), 6) for v in vector), embedded_s)


def clip_embedding(mono_16k: np.ndarray, settings: VoiceSettings | None = None) -> list[float] | None:
    """Return the clip's GE2E embedding as a list of 256 floats, or ``None`` (see :func:`embed_clip`)."""
    vector = embed_clip(mono_16k, settings).vector
    return None if vector is None else list(vector)


def _embed_blocks(blocks: np.ndarray) -> np.ndarray:
    """Return the normalised mean of the blocks' embeddings, as resemblyzer's ``embed_utterance`` does."""
    mean = load_encoder().embed(blocks, _MEL_FRAMES).mean(axis=0)
    return mean / (np.linalg.norm(mean) or 1.0)


def cosine_similarity(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Return the cosine similarity of two vectors (0.0 when either is all zeros)."""
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / norm) if norm else 0.0


def robust_centroid(matrix: np.ndarray, trim_share: float = 0.25, iterations: int = 5) -> np.ndarray:
    """Return the unit-length centroid of the rows of ``matrix`` by an iterated trimmed mean.

    Starts at the normalised coordinate-wise median; each iteration averages the rows whose
    cosine similarity to the current centroid is in the top ``1 - trim_share``.
    """
    rows = _unit_rows(np.asarray(matrix, dtype=np.float64))
    centroid = _unit(np.median(rows, axis=0))
    n_keep = max(1, int(np.ceil(rows.shape[0] * (1.0 - trim_share))))
    for _ in range(iterations):
        nearest = np.argsort(-(rows @ centroid), kind="stable")[:n_keep]
        centroid = _unit(rows[nearest].mean(axis=0))
    return centroid


def pca_map(matrix: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Return the rows of ``matrix`` on their first two principal axes, ``(n, 2)``, and each axis's variance share.

    Axis signs are fixed (the largest loading is positive) so the map does not flip between runs.
    """
    rows = np.asarray(matrix, dtype=np.float64)
    coords = np.zeros((rows.shape[0], 2))
    if rows.shape[0] < 2:
        return coords, (0.0, 0.0)
    centred = rows - rows.mean(axis=0)
    # The principal axes are the eigenvectors of the (dims x dims) scatter matrix: cheaper than
    # an SVD of the (clips x dims) matrix for a dataset of hundreds of clips.
    variances, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(variances)[::-1][: min(2, rows.shape[0])]
    total = float(np.sum(np.maximum(variances, 0.0))) or 1.0
    explained = [0.0, 0.0]
    for k, index in enumerate(order):
        axis = vectors[:, index] * np.sign(vectors[np.argmax(np.abs(vectors[:, index])), index])
        coords[:, k] = centred @ axis
        explained[k] = max(float(variances[index]), 0.0) / total
    return coords, (round(explained[0], 4), round(explained[1], 4))


def voice_consistency(
    embeddings: Mapping[str, Sequence[float] | None],
    settings: VoiceSettings | None = None,
    unjudged: Collection[str] = (),
) -> VoiceConsistency:
    """Return the dataset's voice centroid, each clip's similarity to it and the ``other_voice`` clips.

    Parameters
    ----------
    embeddings : mapping
        Clip name -> embedding (any length, the same for all) or ``None`` for clips without one.
    settings : VoiceSettings, optional
        Uses the centroid and ``other_voice_*`` fields.
    unjudged : collection of str
        Clips whose evidence is not clean (noisy, too short, mostly silent): they get a
        similarity but take no part in the centroid, the threshold or the flags.

    Raises
    ------
    ValueError
        ``settings.other_voice_method`` is not one of :data:`METHODS`, or the embeddings differ
        in length.
    """
    with one_blas_thread():
        return _voice_consistency(embeddings, settings or VoiceSettings(), unjudged)


def _voice_consistency(
    embeddings: Mapping[str, Sequence[float] | None], settings: VoiceSettings, unjudged: Collection[str]
) -> VoiceConsistency:
    if settings.other_voice_method not in METHODS:
        raise ValueError(
            f"Unknown other_voice_method {settings.other_voice_method!r}; choose one of {', '.join(METHODS)}."
        )
    embedded = [name for name, vector in embeddings.items() if vector is not None]
    names = [name for name in embedded if name not in set(unjudged)]
    similarity: dict[str, float | None] = dict.fromkeys(embeddings)
    if not names:
        return VoiceConsistency(
            None,
            similarity,
            (),
            None,
            None,
            None,
            method=settings.other_voice_method,
            message="No clip has a voice embedding from clean evidence."
            if embedded
            else "No clip has a voice embedding.",
        )
    lengths = {len(embeddings[name]) for name in embedded}  # type: ignore[arg-type]
    if len(lengths) > 1:
        raise ValueError(
            f"Embeddings differ in length ({sorted(lengths)}); embed all clips with the same encoder."
        )
    matrix = np.array([embeddings[name] for name in names], dtype=np.float64)
    centroid = robust_centroid(matrix, settings.centroid_trim_share, settings.centroid_iterations)
    sims = _unit_rows(matrix) @ centroid
    everyone = np.array([embeddings[name] for name in embedded], dtype=np.float64)
    for name, value in zip(embedded, _unit_rows(everyone) @ centroid, strict=True):
        similarity[name] = round(float(value), 4)
    median = float(np.median(sims))
    spread = max(_MAD_TO_SIGMA * float(np.median(np.abs(sims - median))), settings.other_voice_min_spread)
    coords, explained = pca_map(everyone)
    common: dict[str, Any] = {
        "centroid_clips": len(names),
        "centroid": tuple(round(float(v), 6) for v in centroid),
        "similarity": similarity,
        "median_similarity": round(median, 4),
        "spread": round(spread, 4),
        "map_xy": {
            name: (round(float(x), 4), round(float(y), 4))
            for name, (x, y) in zip(embedded, coords, strict=True)
        },
        "map_explained": explained,
        "method": settings.other_voice_method,
    }
    if len(names) < settings.other_voice_min_clips:
        message = (
            f"Only {len(names)} clips have a voice embedding from clean evidence "
            f"(fewer than {settings.other_voice_min_clips}): "
            "no reliable dataset voice, nothing flagged."
        )
        return VoiceConsistency(other_voice=(), threshold=None, message=message, **common)
    threshold = settings.other_voice_floor
    if settings.other_voice_method == "mad":
        threshold = max(threshold, median - settings.other_voice_mad_k * spread)
    flagged = tuple(name for name, value in zip(names, sims, strict=True) if value < threshold)
    return VoiceConsistency(other_voice=flagged, threshold=round(threshold, 4), **common)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) or 1.0)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)
