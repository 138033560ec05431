"""f0 tracking for singing: one contour per clip, then per-clip pitch statistics.

The default tracker is Praat's autocorrelation method through praat-parselmouth, run on a copy
resampled to ``PitchSettings.analysis_sample_rate_hz`` (Praat's cost is per frame, so a low rate
and a 20 ms step keep it near 1.5 ms per second of audio on one core). Optional slower trackers sit
behind the same :func:`track_f0`:

``"crepe-tiny"`` / ``"crepe-full"``
    torchcrepe (weights ship in its wheel), Viterbi decoding, periodicity threshold.
``"rmvpe"``
    An RMVPE ONNX file at ``<workspace>/models/rmvpe.onnx`` (``PitchSettings.rmvpe_model_file``),
    run with onnxruntime. Both public exports work: the RVC one (log-mel in, 360-bin salience out)
    and the waveform one (waveform and threshold in, f0 and uv out).

When an optional tracker cannot run (package or model file absent), :func:`track_f0` uses Praat
and says why in :attr:`F0Track.message`; :func:`load_tracker` raises
:class:`~svcqa.core.errors.ModelMissingError` with the same message for callers that want to fail.

Every contour is cleaned the same way: single-frame octave jumps are folded back onto the
running median of their voiced run, and voiced runs shorter than ``min_voiced_run_s`` are dropped.
Statistics use the contour with vibrato averaged out (a moving mean of ``vibrato_smoothing_s``),
because the note a listener hears is the centre of the vibrato, not its peaks.

Example
-------
>>> from svcqa.core.settings import PitchSettings
>>> from svcqa.demo.synth import sung_phrase
>>> audio = sung_phrase([57, 69], note_s=1.0, sample_rate_hz=16_000)
>>> stats = pitch_stats(track_f0(audio, 16_000, PitchSettings()), PitchSettings())
>>> stats.f0_p05_note, stats.f0_p95_note
('A3', 'A4')
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svcqa.core.errors import ModelMissingError
from svcqa.core.settings import LimitSettings, PitchSettings

log = logging.getLogger(__name__)

TRACKERS: tuple[str, ...] = ("parselmouth", "crepe-tiny", "crepe-full", "rmvpe")
PITCH_LIMIT = "the song check (limits.pitch_max_s in the settings)"
DEFAULT_TRACKER = "parselmouth"
NOTE_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_NEURAL_RATE_HZ = 16_000
"""Sample rate both torchcrepe and RMVPE were trained at."""
_RMVPE_HOP_S = 0.01
_OCTAVE_TOLERANCE_SEMITONES = 3.0
"""A frame this close to an octave away from its run's median is an octave error."""
_HARMONIC_ERRORS_SEMITONES = np.array([12.0, 19.0, 24.0])
"""Intervals of a tracker's harmonic errors: an octave (f0 x 2), a twelfth (x 3), two octaves (x 4)."""
_HARMONIC_TOLERANCE_SEMITONES = 1.0
_HARMONIC_ERROR_MAX_SHARE = 0.5
"""A stretch a harmonic interval from its neighbour is the tracker's error only when it lasts at
most this share of the neighbour: two long notes an octave apart are a sung leap, both kept."""


@dataclass(frozen=True, eq=False)
class F0Track:
    """An f0 contour: one value per frame, ``0.0`` where unvoiced.

    Attributes
    ----------
    f0_hz : np.ndarray
        float64, one value per frame of ``time_step_s``; 0 means unvoiced.
    time_step_s : float
        Frame hop in seconds (the tracker's own; RMVPE is always 0.01 s).
    tracker : str
        The tracker that produced the contour (after any fallback).
    message : str
        Why the requested tracker was not used, or why it found nothing; empty otherwise.
    strength : np.ndarray or None
        Periodicity per frame, when the tracker measures it.
    """

    f0_hz: np.ndarray
    time_step_s: float
    tracker: str
    message: str = ""
    strength: np.ndarray | None = None
    """Periodicity of each frame in [0, 1] (Praat's autocorrelation peak, crepe's periodicity);
    ``None`` when the tracker gives none."""

    @property
    def voiced(self) -> np.ndarray:
        """Return a boolean mask of voiced frames."""
        return self.f0_hz > 0

    @property
    def duration_s(self) -> float:
        """Return the length covered by the frames, in seconds."""
        return self.f0_hz.size * self.time_step_s

    def midi(self) -> np.ndarray:
        """Return the contour as float MIDI note numbers, NaN where unvoiced."""
        return hz_to_midi(self.f0_hz)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary (the contour itself is not included)."""
        return {
            "tracker": self.tracker,
            "time_step_s": self.time_step_s,
            "frames": int(self.f0_hz.size),
            "voiced_s": round(float(np.count_nonzero(self.voiced)) * self.time_step_s, 3),
            "message": self.message,
        }


@dataclass(frozen=True)
class PitchStats:
    """Per-clip pitch figures (from the vibrato-smoothed contour).

    Only stable frames count (:func:`stable_frames`). ``None`` for every percentile and name
    when the clip has no stable voiced frame. ``note_seconds`` maps an integer MIDI note to the
    stable voiced seconds spent nearest to it; ``unstable_s`` is the voiced time left out.
    """

    voiced_s: float
    f0_p05_midi: float | None
    f0_p50_midi: float | None
    f0_p95_midi: float | None
    f0_p05_note: str | None
    f0_p50_note: str | None
    f0_p95_note: str | None
    note_seconds: dict[int, float] = field(default_factory=dict)
    unstable_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``note_seconds`` keys stay ints)."""
        return {
            "voiced_s": self.voiced_s,
            "f0_p05_midi": self.f0_p05_midi,
            "f0_p50_midi": self.f0_p50_midi,
            "f0_p95_midi": self.f0_p95_midi,
            "f0_p05_note": self.f0_p05_note,
            "f0_p50_note": self.f0_p50_note,
            "f0_p95_note": self.f0_p95_note,
            "note_seconds": dict(self.note_seconds),
            "unstable_s": self.unstable_s,
        }


def hz_to_midi(f0_hz: np.ndarray) -> np.ndarray:
    """Return float MIDI note numbers (69 = A4 = 440 Hz) for ``f0_hz``; NaN where ``f0_hz <= 0``."""
    f0 = np.asarray(f0_hz, dtype=np.float64)
    out = np.full(f0.shape, np.nan)
    positive = f0 > 0
    out[positive] = 69.0 + 12.0 * np.log2(f0[positive] / 440.0)
    return out


def midi_to_note_name(midi: float) -> str:
    """Return the scientific pitch name of the nearest semitone, e.g. ``69.2 -> "A4"``."""
    nearest = round(float(midi))
    return f"{NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}"


def voiced_runs(voiced: np.ndarray) -> np.ndarray:
    """Return ``(start, stop)`` frame indices of each run of ``True``, shape ``(n_runs, 2)``."""
    padded = np.concatenate(([False], np.asarray(voiced, dtype=bool), [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return edges.reshape(-1, 2)


def prepare_mono(mono: np.ndarray) -> np.ndarray:
    """Return ``mono`` as finite float32 with its DC offset removed.

    A 2-D array is read as ``(samples, channels)`` and averaged, as soundfile returns it.
    """
    audio = np.asarray(mono, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=np.float32)
    audio = np.nan_to_num(audio.reshape(-1), nan=0.0, posinf=0.0, neginf=0.0)
    if audio.size:
        audio = audio - np.float32(audio.mean())
    return audio


def clean_contour(f0_hz: np.ndarray, time_step_s: float, settings: PitchSettings) -> np.ndarray:
    """Return ``f0_hz`` with octave jumps folded back and too-short voiced runs removed.

    Parameters
    ----------
    f0_hz : np.ndarray
        Contour in Hz, 0 where unvoiced.
    time_step_s : float > 0
        Frame hop in seconds.
    settings : PitchSettings
        Uses ``min_voiced_run_s``, ``vibrato_smoothing_s`` (median length), ``f0_min_hz``,
        ``f0_max_hz``.
    """
    f0 = np.where(
        (f0_hz >= settings.f0_min_hz * 0.97) & (f0_hz <= settings.f0_max_hz * 1.03), f0_hz, 0.0
    ).astype(np.float64)
    min_frames = max(1, round(settings.min_voiced_run_s / time_step_s))
    for start, stop in voiced_runs(f0 > 0).tolist():
        if stop - start < min_frames:
            f0[start:stop] = 0.0
    midi = hz_to_midi(f0)
    offset = midi - median_midi(midi, time_step_s, settings.vibrato_smoothing_s)
    octaves = np.round(np.nan_to_num(offset) / 12.0)
    jumped = (octaves != 0) & (np.abs(offset - 12.0 * octaves) < _OCTAVE_TOLERANCE_SEMITONES)
    f0[jumped] *= 2.0 ** -octaves[jumped]
    return f0


def median_midi(midi: np.ndarray, time_step_s: float, window_s: float) -> np.ndarray:
    """Return the running median of ``midi`` over ``window_s`` inside each voiced run.

    Unlike a moving mean, the median keeps note steps and monotone glides sharp while it
    removes oscillations such as vibrato, so held notes stay flat right up to their edges.
    """
    import scipy.ndimage  # here, not at the top: reading cached audit rows needs none of it

    out = np.full(midi.shape, np.nan)
    width = max(3, round(window_s / time_step_s) | 1)
    for start, stop in voiced_runs(np.isfinite(midi)).tolist():
        size = min(width, (stop - start) | 1)
        out[start:stop] = scipy.ndimage.median_filter(midi[start:stop], size=size, mode="nearest")
    return out


def smooth_midi(midi: np.ndarray, time_step_s: float, window_s: float) -> np.ndarray:
    """Return ``midi`` averaged over ``window_s`` inside each voiced run (NaN stays NaN).

    A moving mean one vibrato period long (about 0.2 s) leaves the note a listener hears.
    """
    out = np.full(midi.shape, np.nan)
    width = max(1, round(window_s / time_step_s))
    half = width // 2
    for start, stop in voiced_runs(np.isfinite(midi)):
        run = midi[start:stop]
        cumsum = np.concatenate(([0.0], np.cumsum(run)))
        idx = np.arange(run.size)
        lo = np.maximum(idx - half, 0)
        hi = np.minimum(idx + half + 1, run.size)
        out[start:stop] = (cumsum[hi] - cumsum[lo]) / (hi - lo)
    return out


def _praat_f0(audio: np.ndarray, sample_rate_hz: int, settings: PitchSettings) -> F0Track:
    import parselmouth

    from svcqa.audio.resample import resample

    rate_hz = settings.analysis_sample_rate_hz
    resampled = resample(audio, sample_rate_hz, rate_hz)
    window_s = 3.0 / settings.f0_min_hz
    frames = resampled.size // max(1, round(rate_hz * settings.time_step_s))
    if resampled.size < (window_s + settings.time_step_s) * rate_hz:
        return F0Track(np.zeros(frames), settings.time_step_s, "parselmouth")
    sound = parselmouth.Sound(resampled.astype(np.float64), sampling_frequency=rate_hz)
    try:
        pitch = sound.to_pitch_ac(
            time_step=settings.time_step_s,
            pitch_floor=settings.f0_min_hz,
            pitch_ceiling=settings.praat_search_ceiling_hz,
            silence_threshold=settings.praat_silence_threshold,
            voicing_threshold=settings.praat_voicing_threshold,
        )
    except parselmouth.PraatError as exc:
        # Odd audio must give an unvoiced clip, not a crashed audit; the message keeps the reason.
        return F0Track(np.zeros(frames), settings.time_step_s, "parselmouth", f"Praat failed: {exc}")
    # Praat centres its first frame half a window in; pad so frame i covers i * time_step_s.
    selected = pitch.selected_array
    lead = max(round((pitch.x1 - settings.time_step_s / 2) / settings.time_step_s), 0)

    def aligned(values: np.ndarray) -> np.ndarray:
        values = np.concatenate((np.zeros(lead), np.nan_to_num(values)))
        return np.pad(values, (0, max(frames - values.size, 0)))[:frames]

    return F0Track(
        aligned(selected["frequency"]),
        settings.time_step_s,
        "parselmouth",
        strength=aligned(selected["strength"]),
    )


def _crepe_f0(model: str) -> Callable[[np.ndarray, int, PitchSettings], F0Track]:
    try:
        import torch
        import torchcrepe
    except ImportError as exc:
        raise ModelMissingError(
            f"Tracker crepe-{model} needs the torchcrepe package ({exc}). "
            "Install it with `pip install torchcrepe`, or choose the parselmouth tracker."
        ) from exc

    def run(audio: np.ndarray, sample_rate_hz: int, settings: PitchSettings) -> F0Track:
        from svcqa.audio.resample import resample

        resampled = resample(audio, sample_rate_hz, _NEURAL_RATE_HZ)
        hop = round(settings.time_step_s * _NEURAL_RATE_HZ)
        frames = int(resampled.size / hop)
        if resampled.size < 1024:
            return F0Track(np.zeros(frames), settings.time_step_s, f"crepe-{model}")
        with torch.inference_mode():
            f0, periodicity = torchcrepe.predict(
                torch.from_numpy(resampled)[None],
                _NEURAL_RATE_HZ,
                hop_length=hop,
                fmin=settings.f0_min_hz,
                fmax=settings.f0_max_hz,
                model=model,
                return_periodicity=True,
                batch_size=512,
                device="cpu",
            )
        f0_hz = f0[0].numpy().astype(np.float64)
        strength = periodicity[0].numpy().astype(np.float64)
        f0_hz = np.pad(
            np.where(strength >= settings.crepe_voicing_threshold, f0_hz, 0.0),
            (0, max(frames - f0_hz.size, 0)),
        )
        strength = np.pad(strength, (0, max(frames - strength.size, 0)))
        return F0Track(f0_hz[:frames], settings.time_step_s, f"crepe-{model}", strength=strength[:frames])

    return run


def rmvpe_model_path(settings: PitchSettings, workspace_root: Path | None = None) -> Path:
    """Return where the RMVPE ONNX file must be: ``<workspace>/<rmvpe_model_file>``."""
    if workspace_root is None:
        from svcqa.core.workspace import default_root

        workspace_root = default_root()
    return Path(workspace_root) / settings.rmvpe_model_file


@functools.lru_cache(maxsize=2)
def _onnx_session(path: str) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def rmvpe_log_mel(audio_16k: np.ndarray) -> np.ndarray:
    """Return RMVPE's input features: log mel, 128 bins 30-8000 Hz, hop 10 ms, ``(1, 128, frames)``."""
    import librosa

    spectrum = np.abs(librosa.stft(audio_16k, n_fft=1024, hop_length=160, win_length=1024, center=True))
    basis = _rmvpe_mel_basis()
    return np.log(np.maximum(basis @ spectrum, 1e-5))[None].astype(np.float32)


@functools.lru_cache(maxsize=1)
def _rmvpe_mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=_NEURAL_RATE_HZ, n_fft=1024, n_mels=128, fmin=30, fmax=8000, htk=True)


def rmvpe_decode(salience: np.ndarray, threshold: float) -> np.ndarray:
    """Return f0 in Hz per frame from RMVPE's ``(frames, 360)`` salience (weighted mean of 9 bins).

    Bin ``k`` is ``20 k + 1997.38`` cents above 10 Hz; frames whose peak is under ``threshold``
    are unvoiced (0).
    """
    n_bins = salience.shape[1]
    cents = 20.0 * np.arange(n_bins) + 1997.3794084376191
    centre = np.argmax(salience, axis=1)
    offsets = np.arange(-4, 5)
    idx = np.clip(centre[:, None] + offsets[None, :], 0, n_bins - 1)
    inside = (centre[:, None] + offsets[None, :] >= 0) & (centre[:, None] + offsets[None, :] < n_bins)
    weights = np.take_along_axis(salience, idx, axis=1) * inside
    total = weights.sum(axis=1)
    mean_cents = (weights * cents[idx]).sum(axis=1) / np.where(total == 0, 1.0, total)
    f0 = 10.0 * 2.0 ** (mean_cents / 1200.0)
    return np.where(salience.max(axis=1) >= threshold, f0, 0.0)


def _rmvpe_f0(path: Path) -> Callable[[np.ndarray, int, PitchSettings], F0Track]:
    if not path.is_file():
        raise ModelMissingError(
            f"Tracker rmvpe needs the model file {path.name}, which is not at {path}. "
            f"Download an RMVPE ONNX export (rmvpe.onnx) and put it there, or choose the "
            "parselmouth tracker."
        )
    try:
        session = _onnx_session(str(path))
    except ImportError as exc:
        raise ModelMissingError(
            f"Tracker rmvpe needs onnxruntime ({exc}); `pip install onnxruntime`."
        ) from exc

    def run(audio: np.ndarray, sample_rate_hz: int, settings: PitchSettings) -> F0Track:
        from svcqa.audio.resample import resample

        resampled = resample(audio, sample_rate_hz, _NEURAL_RATE_HZ)
        frames = resampled.size // 160 + 1
        if resampled.size < 1024:
            return F0Track(np.zeros(frames), _RMVPE_HOP_S, "rmvpe")
        inputs = session.get_inputs()
        threshold = settings.rmvpe_voicing_threshold
        if len(inputs[0].shape) == 2:
            feed = {inputs[0].name: resampled[None].astype(np.float32)}
            if len(inputs) > 1:
                feed[inputs[1].name] = np.asarray(threshold, dtype=np.float32)
            outputs = session.run(None, feed)
            f0_hz = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
            if len(outputs) > 1:
                f0_hz = np.where(np.asarray(outputs[1]).reshape(-1).astype(bool), 0.0, f0_hz)
        else:
            mel = rmvpe_log_mel(resampled)
            pad = 32 * ((mel.shape[-1] - 1) // 32 + 1) - mel.shape[-1]
            padded = np.pad(mel, ((0, 0), (0, 0), (0, pad)), mode="constant")
            salience = np.asarray(session.run(None, {inputs[0].name: padded})[0])[0, : mel.shape[-1]]
            f0_hz = rmvpe_decode(salience, threshold)
        f0_hz = np.pad(f0_hz, (0, max(frames - f0_hz.size, 0)))[:frames]
        return F0Track(f0_hz, _RMVPE_HOP_S, "rmvpe")

    return run


def load_tracker(
    name: str, settings: PitchSettings, workspace_root: Path | None = None
) -> Callable[[np.ndarray, int, PitchSettings], F0Track]:
    """Return the raw f0 function of tracker ``name`` (one of :data:`TRACKERS`).

    Raises
    ------
    ModelMissingError
        The tracker's package or model file is absent; the message names the file and where
        it goes.
    ValueError
        ``name`` is not a known tracker.
    """
    if name == "parselmouth":
        return _praat_f0
    if name in ("crepe-tiny", "crepe-full"):
        return _crepe_f0(name.removeprefix("crepe-"))
    if name == "rmvpe":
        return _rmvpe_f0(rmvpe_model_path(settings, workspace_root))
    raise ValueError(f"Unknown pitch tracker {name!r}; choose one of {', '.join(TRACKERS)}.")


def track_f0(
    mono: np.ndarray, sample_rate_hz: int, settings: PitchSettings, workspace_root: Path | None = None
) -> F0Track:
    """Return the cleaned f0 contour of ``mono`` with the tracker named in ``settings.tracker``.

    Parameters
    ----------
    mono : np.ndarray [shape=(n,) or (n, channels)]
        Audio at any sample rate, any float dtype; NaN/inf count as 0, DC is removed.
    sample_rate_hz : int > 0
        Sample rate of ``mono`` in Hz.
    settings : PitchSettings
        Tracker choice, f0 range, frame step and cleaning parameters.
    workspace_root : Path, optional
        Where ``models/rmvpe.onnx`` is looked up; defaults to the current workspace.

    Falls back to Praat when the chosen tracker cannot run; :attr:`F0Track.message` says why.
    """
    audio = prepare_mono(mono)
    message = ""
    try:
        tracker = load_tracker(settings.tracker, settings, workspace_root)
    except ModelMissingError as exc:
        message = f"{exc} Used the {DEFAULT_TRACKER} tracker instead."
        log.warning(message)
        tracker = _praat_f0
    raw = tracker(audio, sample_rate_hz, settings)
    f0 = clean_contour(raw.f0_hz, raw.time_step_s, settings)
    text = " ".join(m for m in (message, raw.message) if m)
    return F0Track(f0, raw.time_step_s, raw.tracker, text, raw.strength)


def note_seconds(midi: np.ndarray, time_step_s: float) -> dict[int, float]:
    """Return voiced seconds per nearest integer MIDI note, sorted by note (NaN frames skipped)."""
    finite = midi[np.isfinite(midi)]
    if finite.size == 0:
        return {}
    notes, counts = np.unique(np.round(finite).astype(np.int64), return_counts=True)
    return {int(n): round(float(c) * time_step_s, 4) for n, c in zip(notes, counts, strict=True)}


def note_segments(midi: np.ndarray, jump_semitones: float) -> np.ndarray:
    """Return ``(start, stop)`` frames of each stretch of ``midi`` without a jump, ``(n, 2)``.

    A stretch ends at an unvoiced (NaN) frame or where the pitch moves more than
    ``jump_semitones`` from one frame to the next; a glide or a vibrato moves less.
    """
    voiced = np.isfinite(midi)
    jumps = np.zeros(midi.size, dtype=bool)
    jumps[1:] = voiced[1:] & voiced[:-1] & (np.abs(np.diff(np.nan_to_num(midi))) > jump_semitones)
    bounds = []
    for start, stop in voiced_runs(voiced).tolist():
        cuts = [start, *(np.flatnonzero(jumps[start + 1 : stop]) + start + 1).tolist(), stop]
        bounds += list(itertools.pairwise(cuts))
    return np.array(bounds, dtype=np.int64).reshape(-1, 2)


def stable_frames(track: F0Track, settings: PitchSettings) -> np.ndarray:
    """Return the voiced frames that show the sung note, not an onset, an end or a tracking error.

    Left out, as unstable:

    * weak periodicity at the edges of a stretch: strength under ``stable_min_strength`` (a
      breathy attack, a fading end);
    * stretches shorter than ``settle_s`` between jumps (:func:`note_segments`): a short island
      of voicing, or a jump that settles into the note within ``settle_s``;
    * stretches a whole number of octaves (or a twelfth) from a stretch at least twice as long
      that follows or precedes within ``settle_s``: the tracker's sub- or over-harmonic while
      one note hands over to the next (a choir, a release still ringing, reverberation). Two
      long notes an octave apart are a sung leap: both are kept.
    """
    midi = track.midi()
    strength = np.ones(midi.size) if track.strength is None else track.strength
    stable = np.zeros(midi.size, dtype=bool)
    bounds = []
    for start, stop in note_segments(midi, settings.segment_jump_semitones).tolist():
        strong = np.flatnonzero(strength[start:stop] >= settings.stable_min_strength)
        if strong.size:  # weak frames at a stretch's edges are its onset or its end
            bounds.append((start + int(strong[0]), start + int(strong[-1]) + 1))
    segments = np.array(bounds, dtype=np.int64).reshape(-1, 2)
    if segments.size == 0:
        return stable
    min_frames = max(1, round(settings.settle_s / track.time_step_s))
    # Stretches shorter than settle_s are unstable; the others are compared with their
    # neighbours, skipping the short fragments (a glide, a glitch) between them.
    notes = segments[segments[:, 1] - segments[:, 0] >= min_frames]
    lengths = notes[:, 1] - notes[:, 0]
    centres = np.array([np.median(midi[a:b]) for a, b in notes.tolist()])
    near = notes[1:, 0] - notes[:-1, 1] <= min_frames
    for i, (start, stop) in enumerate(notes.tolist()):
        rivals = []
        if i > 0 and near[i - 1]:  # the end of the stretch before
            rivals.append((i - 1, np.median(midi[notes[i - 1, 1] - min_frames : notes[i - 1, 1]])))
        if i + 1 < len(notes) and near[i]:  # the start of the stretch after
            rivals.append((i + 1, np.median(midi[notes[i + 1, 0] : notes[i + 1, 0] + min_frames])))
        if any(
            _harmonic_error(centres[i] - pitch) and lengths[i] <= _HARMONIC_ERROR_MAX_SHARE * lengths[j]
            for j, pitch in rivals
        ):
            continue
        stable[start:stop] = True
    return stable


def _harmonic_error(interval_semitones: float) -> bool:
    """Return whether ``interval_semitones`` is one of the tracker's harmonic errors (1-2 octaves, a twelfth)."""
    return bool(
        np.min(np.abs(abs(interval_semitones) - _HARMONIC_ERRORS_SEMITONES)) <= _HARMONIC_TOLERANCE_SEMITONES
    )


def pitch_stats(track: F0Track, settings: PitchSettings) -> PitchStats:
    """Return voiced seconds, p05/p50/p95 (MIDI and names) and seconds per note of ``track``.

    Only :func:`stable_frames` count; ``unstable_s`` says how many voiced seconds were left out.
    """
    stable = stable_frames(track, settings)
    midi = smooth_midi(
        np.where(stable, track.midi(), np.nan), track.time_step_s, settings.vibrato_smoothing_s
    )
    voiced = midi[np.isfinite(midi)]
    voiced_s = round(voiced.size * track.time_step_s, 3)
    unstable_s = round(float(np.count_nonzero(track.voiced & ~stable)) * track.time_step_s, 3)
    if voiced.size == 0:
        return PitchStats(voiced_s, None, None, None, None, None, None, {}, unstable_s)
    p05, p50, p95 = (round(float(v), 3) for v in np.percentile(voiced, [5.0, 50.0, 95.0]))
    return PitchStats(
        voiced_s=voiced_s,
        f0_p05_midi=p05,
        f0_p50_midi=p50,
        f0_p95_midi=p95,
        f0_p05_note=midi_to_note_name(p05),
        f0_p50_note=midi_to_note_name(p50),
        f0_p95_note=midi_to_note_name(p95),
        note_seconds=note_seconds(midi, track.time_step_s),
        unstable_s=unstable_s,
    )


def analyse_song_file(
    path: Path,
    settings: PitchSettings | None = None,
    workspace_root: Path | None = None,
    max_input_s: float | None = None,
) -> dict[int, float]:
    """Return the voiced seconds per integer MIDI note of a song's vocals file.

    Parameters
    ----------
    path : Path
        A vocals file (anything :func:`svcqa.audio.decode.read` decodes).
    settings : PitchSettings, optional
        Defaults to ``PitchSettings()``.
    max_input_s : float > 0, optional
        Longest song analysed; a longer one is refused before decoding (default
        ``LimitSettings().pitch_max_s``).

    Raises
    ------
    AudioError
        The file cannot be decoded or is longer than ``max_input_s``.
    """
    from svcqa.audio.decode import read

    settings = settings or PitchSettings()
    limit_s = LimitSettings().pitch_max_s if max_input_s is None else max_input_s
    audio, rate_hz = read(Path(path), mono=True, max_duration_s=limit_s, work=PITCH_LIMIT)
    return pitch_stats(track_f0(audio, rate_hz, settings, workspace_root), settings).note_seconds
