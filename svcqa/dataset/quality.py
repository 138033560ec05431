"""Recording quality per clip: DNSMOS signal, background and overall scores (1-5).

DNSMOS (Microsoft's P.835 predictor, shipped as ONNX models inside the speechmos wheel) scores
a fixed 9.01 s window of 16 kHz audio. speechmos as shipped slides that window in 1 s hops over
the whole clip, about 19x real time; here only ``quality_windows`` evenly spaced windows are
scored (one by default, 0.17-0.26 s of one core per clip) and averaged. A clip shorter than one
window is looped to fill it, as speechmos does.

What it can and cannot tell
---------------------------
* A secondary, speech-trained figure, off by default (``voice.score_quality``): the ``noisy``
  flag comes from the noise floor (:mod:`svcqa.dataset.noise`); DNSMOS ``bak`` is quoted next
  to it as a second opinion.
* ``bak`` (background), pink noise (``benchmarks/voice_checks.py``): clean espeak-ng speech
  4.1-4.2 and generated singing 3.6-4.0; at 20 dB SNR 2.8-3.1 and 1.9-2.5; at 10 dB 2.0-2.3
  and 1.1-1.9; at 5 dB 1.7-1.9 and 1.1-1.2 (:meth:`QualityScores.is_noisy` under 2.0).
* DNSMOS was trained on speech. On long legato singing without consonants or pauses, generated
  or recorded, it reads the periodic tone itself as noise (``bak`` 1.0-1.8 on clean audio): it
  called every one of 12 clean legato clips noisy. ``sig`` and ``ovrl`` judge speech quality
  and are only a rough estimate for singing.

Example
-------
>>> from svcqa.demo.synth import sung_phrase
>>> audio = sung_phrase([57, 60, 64, 62, 60], note_s=0.8, sample_rate_hz=16_000)
>>> sorted(dnsmos_scores(audio))  # doctest: +SKIP
['bak', 'ovrl', 'sig']
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from svcqa.core.errors import ModelMissingError
from svcqa.core.settings import VoiceSettings
from svcqa.dataset.pitch import prepare_mono

DNSMOS_SAMPLE_RATE_HZ = 16_000
WINDOW_SAMPLES = 144_160
"""DNSMOS's fixed input: 9.01 s at 16 kHz."""
_FRAME_S = 0.02


@dataclass(frozen=True)
class QualityScores:
    """DNSMOS scores of one clip (1 = bad, 5 = excellent), or why there are none.

    Attributes
    ----------
    sig, bak, ovrl : float or None
        Speech signal quality, background (noise) quality and overall quality (P.835 scale).
    scored_s : float
        Seconds of the clip inside the scored windows.
    reason : str
        Why the scores are ``None``; empty otherwise.
    """

    sig: float | None
    bak: float | None
    ovrl: float | None
    scored_s: float
    reason: str = ""

    def is_noisy(self, settings: VoiceSettings) -> bool:
        """Return whether DNSMOS calls the clip noisy: background under ``settings.noisy_bak_threshold``.

        A second opinion only: the ``noisy`` flag comes from the noise floor.
        """
        return self.bak is not None and self.bak < settings.noisy_bak_threshold

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with keys ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_ovrl``, ``scored_s``, ``reason``."""
        return {
            "dnsmos_sig": self.sig,
            "dnsmos_bak": self.bak,
            "dnsmos_ovrl": self.ovrl,
            "scored_s": self.scored_s,
            "reason": self.reason,
        }


@functools.lru_cache(maxsize=1)
def load_dnsmos() -> Any:
    """Return speechmos's P.835 DNSMOS scorer with single-threaded ONNX sessions, loaded once per process.

    Raises
    ------
    ModelMissingError
        speechmos or onnxruntime is not installed.
    """
    try:
        import onnxruntime
        from speechmos import dnsmos
    except ImportError as exc:
        raise ModelMissingError(
            f"Recording quality needs the speechmos package ({exc}). Install it with "
            "`pip install speechmos`, or turn off voice.score_quality."
        ) from exc

    class _Scorer(dnsmos.DNSMOS):
        """speechmos's scorer, but on one thread: the audit already runs one worker per core."""

        def __init__(self) -> None:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            folder = os.path.join(os.path.dirname(dnsmos.__file__), "dnsmos_models")
            self.primary_model_path = os.path.join(folder, "sig_bak_ovr.onnx")
            self.onnx_sess = onnxruntime.InferenceSession(
                self.primary_model_path, options, providers=["CPUExecutionProvider"]
            )

        def score_window(self, window: np.ndarray) -> tuple[float, float, float]:
            """Return ``(sig, bak, ovrl)`` of one 9.01 s window (P.835, not personalised)."""
            raw = self.onnx_sess.run(None, {"input_1": window[None].astype(np.float32)})[0][0]
            sig, bak, ovrl = self.get_polyfit_val(*raw, is_personalized_MOS=False)
            return float(sig), float(bak), float(ovrl)

    return _Scorer()


def excerpt_windows(mono_16k: np.ndarray, n_windows: int) -> np.ndarray:
    """Return up to ``n_windows`` evenly spaced 9.01 s windows of ``mono_16k``, shape ``(k, 144160)``.

    A clip shorter than one window is looped to fill it (one window). Windows overlap only
    when the clip is shorter than ``n_windows`` of them.
    """
    audio = np.clip(prepare_mono(mono_16k), -1.0, 1.0)
    if audio.size < WINDOW_SAMPLES:
        return np.resize(audio, WINDOW_SAMPLES)[None]
    count = max(1, min(n_windows, audio.size // WINDOW_SAMPLES + 1))
    last = audio.size - WINDOW_SAMPLES
    starts = np.linspace(0, last, count) if count > 1 else [last // 2]
    return np.stack([audio[int(s) : int(s) + WINDOW_SAMPLES] for s in starts])


def score_clip(mono_16k: np.ndarray, settings: VoiceSettings | None = None) -> QualityScores:
    """Return the DNSMOS scores of a clip (mean over the scored windows), or ``None`` scores with the reason.

    Parameters
    ----------
    mono_16k : np.ndarray [shape=(n,)]
        Mono audio at 16 kHz, float; values beyond [-1, 1] are clipped, NaN/inf count as 0.
    settings : VoiceSettings, optional
        Uses ``quality_windows``, ``quality_min_s`` and ``silence_dbfs``.

    Raises
    ------
    ModelMissingError
        speechmos is not installed.
    """
    settings = settings or VoiceSettings()
    audio = prepare_mono(mono_16k)
    duration_s = audio.size / DNSMOS_SAMPLE_RATE_HZ
    if duration_s < settings.quality_min_s:
        return QualityScores(
            None, None, None, 0.0, f"too short for DNSMOS ({duration_s:.2f} s < {settings.quality_min_s:g} s)"
        )
    if loudest_frame_dbfs(audio) < settings.silence_dbfs:
        return QualityScores(
            None, None, None, 0.0, f"silent: no 20 ms frame above {settings.silence_dbfs:g} dBFS"
        )
    windows = excerpt_windows(audio, settings.quality_windows)
    scorer = load_dnsmos()
    sig, bak, ovrl = np.mean([scorer.score_window(w) for w in windows], axis=0)
    scored_s = min(windows.shape[0] * WINDOW_SAMPLES, audio.size) / DNSMOS_SAMPLE_RATE_HZ
    return QualityScores(
        round(float(sig), 3), round(float(bak), 3), round(float(ovrl), 3), round(scored_s, 3)
    )


def dnsmos_scores(mono_16k: np.ndarray, settings: VoiceSettings | None = None) -> dict[str, float] | None:
    """Return ``{"sig", "bak", "ovrl"}`` of a clip, or ``None`` when it is silent or too short (see :func:`score_clip`)."""
    scores = score_clip(mono_16k, settings)
    if scores.bak is None:
        return None
    return {"sig": scores.sig, "bak": scores.bak, "ovrl": scores.ovrl}  # type: ignore[dict-item]


def loudest_frame_dbfs(audio: np.ndarray) -> float:
    """Return the RMS level (dBFS) of the loudest 20 ms frame of 16 kHz ``audio`` (-inf when shorter)."""
    frame = int(_FRAME_S * DNSMOS_SAMPLE_RATE_HZ)
    n = audio.size // frame
    if n == 0:
        return float("-inf")
    power = np.mean(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    return float(10.0 * np.log10(np.max(power) + 1e-20))
