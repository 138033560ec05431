"""The final mix: converted vocals over the accompaniment, levelled by loudness, true-peak safe.

Both stems are decoded at the mix sample rate, given the same channel layout (stereo when either
is stereo) and length (the shorter is padded with silence), the vocals are shifted by an optional
offset and run through an optional vocal chain, the vocals are set ``balance_db`` LU above the
accompaniment, and the sum is brought to the target integrated loudness (ITU-R BS.1770 via
pyloudnorm). A look-ahead limiter working on the 4x oversampled (true) peak keeps the result under
the ceiling. Loudness and true peak are measured on the *encoded* file (decoded again), and the
gain is iterated until both hold, so an MP3's codec overshoot is accounted for too.

Example
-------
>>> import tempfile
>>> import soundfile as sf
>>> folder = Path(tempfile.mkdtemp())
>>> t = np.arange(3 * 44_100) / 44_100
>>> sf.write(folder / "v.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 44_100)
>>> sf.write(folder / "a.wav", 0.3 * np.sin(2 * np.pi * 110 * t), 44_100)
>>> result = mix(folder / "v.wav", folder / "a.wav", folder / "cover.wav")
>>> abs(result.lufs - -14.0) <= 0.5, result.true_peak_dbtp <= -1.0
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pedalboard import Compressor, HighpassFilter, PeakFilter, Pedalboard, Reverb

from svcqa.audio.decode import read, read_bytes
from svcqa.audio.encode import FORMATS, audio_bytes
from svcqa.audio.loudness import BS1770_BLOCK_S, db_to_gain, integrated_lufs, remove_dc
from svcqa.audio.true_peak import limit_true_peak, true_peak_dbtp
from svcqa.core.errors import AudioError, SvcqaError
from svcqa.core.files import atomic_write_bytes
from svcqa.core.records import Record
from svcqa.core.settings import LoudnessSettings, MixSettings

MIX_FORMATS: dict[str, str] = FORMATS
"""Output file suffix -> encoder format."""

_LOSSLESS_SUBTYPE = "PCM_24"


@dataclass(frozen=True)
class MixResult(Record):
    """What :func:`mix` wrote and what it measured on the written file.

    Example
    -------
    >>> MixResult("c.wav", -14.0, -1.2, 3.0, 44_100, 2, 2.5, -1.0, 0.0, 1, ()).to_dict()["lufs"]
    -14.0
    """

    out: str
    lufs: float
    """Integrated loudness of the written file (LUFS)."""
    true_peak_dbtp: float
    """True peak of the written file, 4x oversampled (dBTP)."""
    duration_s: float
    sample_rate_hz: int
    channels: int
    vocals_gain_db: float
    """Gain applied to the vocal stem before the limiter."""
    accompaniment_gain_db: float
    """Gain applied to the accompaniment before the limiter."""
    limiter_reduction_db: float
    """Largest gain reduction of the limiter (0 when it never acted)."""
    iterations: int
    """Level/limit/encode rounds it took to meet the loudness target and the ceiling."""
    notes: tuple[str, ...]
    """Plain-language remarks about the inputs (clipping, silent accompaniment)."""


def load_audio(path: Path, sample_rate_hz: int) -> np.ndarray:
    """Return the audio of ``path`` resampled to ``sample_rate_hz``.

    Parameters
    ----------
    path : Path
        Anything :func:`svcqa.audio.decode.probe` can decode (soundfile, else ffmpeg).
    sample_rate_hz : int > 0
        The rate to resample to (:func:`svcqa.audio.resample.resample`).

    Returns
    -------
    np.ndarray [shape=(channels, samples), dtype=float32]
        Samples as decoded; float files may exceed 1.0.

    Raises
    ------
    AudioError
        The file is missing or cannot be decoded.
    """
    try:
        frames, _ = read(path, sample_rate_hz)
    except AudioError as exc:
        raise AudioError(f"Cannot read {path}: {exc}") from exc
    return np.ascontiguousarray(frames.T, dtype=np.float32)


def stem_lufs(audio: np.ndarray, sample_rate_hz: int) -> float:
    """Return the integrated loudness (LUFS) of ``audio`` [shape=(channels, samples)]."""
    return integrated_lufs(audio.T, sample_rate_hz)


def vocal_chain(settings: MixSettings) -> Pedalboard:
    """Return the optional vocal chain: high-pass, compressor, de-esser-like cut, reverb."""
    return Pedalboard(
        [
            HighpassFilter(cutoff_frequency_hz=settings.highpass_hz),
            Compressor(threshold_db=settings.compressor_threshold_db, ratio=settings.compressor_ratio),
            PeakFilter(cutoff_frequency_hz=settings.deess_freq_hz, gain_db=settings.deess_gain_db, q=2.0),
            Reverb(room_size=settings.reverb_room_size, wet_level=settings.reverb_wet, dry_level=1.0),
        ]
    )


def mix(
    vocals_path: Path,
    accompaniment_path: Path,
    out_path: Path,
    settings: MixSettings | None = None,
    loudness: LoudnessSettings | None = None,
) -> MixResult:
    """Return the record of mixing ``vocals_path`` over ``accompaniment_path`` into ``out_path``.

    Parameters
    ----------
    vocals_path, accompaniment_path : Path
        The converted vocals and the accompaniment; any sample rate, mono or stereo, any length.
        They are only read.
    out_path : Path
        ``.wav`` (24-bit), ``.flac`` (24-bit) or ``.mp3``; written atomically.
    settings : MixSettings, optional
        Target loudness (LUFS), ceiling (dBTP), balance (dB), offset (ms), vocal chain; default
        ``MixSettings()``.
    loudness : LoudnessSettings, optional
        How the target is met (tolerance, rounds, limiter); default ``LoudnessSettings()``.

    Returns
    -------
    MixResult
        ``lufs`` is within ``loudness.tolerance_lu`` of the target and ``true_peak_dbtp`` is
        at or under the ceiling, both measured on the written file.

    Raises
    ------
    AudioError
        An input cannot be decoded.
    SvcqaError
        Silent or too short vocals, an output that would overwrite an input or has an unknown
        format, or a target too loud to reach under the ceiling.
    """
    settings = settings or MixSettings()
    loudness = loudness or LoudnessSettings()
    vocals_path, accompaniment_path, out_path = Path(vocals_path), Path(accompaniment_path), Path(out_path)
    audio_format = _output_format(out_path, (vocals_path, accompaniment_path))
    sr = settings.sample_rate_hz
    vocals = remove_dc(load_audio(vocals_path, sr), sr)
    accompaniment = remove_dc(load_audio(accompaniment_path, sr), sr)
    notes = [
        _clipping_note(path, audio, settings.clip_level)
        for path, audio in ((vocals_path, vocals), (accompaniment_path, accompaniment))
    ]

    channels = 2 if max(vocals.shape[0], accompaniment.shape[0]) >= 2 else 1
    vocals = _shift(_to_channels(vocals, channels), settings.offset_ms, sr, vocals_path)
    accompaniment = _to_channels(accompaniment, channels)
    n_samples = max(vocals.shape[-1], accompaniment.shape[-1])
    if n_samples < BS1770_BLOCK_S * sr:
        raise SvcqaError(f"The stems are shorter than {BS1770_BLOCK_S} s; there is nothing to mix.")
    vocals, accompaniment = _pad_to(vocals, n_samples), _pad_to(accompaniment, n_samples)
    if settings.vocal_chain:
        vocals = vocal_chain(settings)(vocals, sr)

    vocals_lufs = stem_lufs(vocals, sr)
    if not vocals_lufs > settings.silent_stem_lufs:
        raise SvcqaError(
            f"The vocal stem {vocals_path.name} is silent (below {settings.silent_stem_lufs} LUFS), "
            "so there is nothing to mix. Check the conversion's output, then mix again."
        )
    accompaniment_lufs = stem_lufs(accompaniment, sr)
    if accompaniment_lufs > settings.silent_stem_lufs:
        vocals_gain_db = accompaniment_lufs + settings.balance_db - vocals_lufs
    else:
        vocals_gain_db = 0.0
        notes.append(
            f"The accompaniment {accompaniment_path.name} is silent; the mix is the vocals alone "
            "and the balance setting has no effect."
        )
    summed = vocals * db_to_gain(vocals_gain_db) + accompaniment
    encoded, master_gain_db, reduction_db, iterations, measured = _level_limit_encode(
        summed, audio_format, settings, loudness
    )
    atomic_write_bytes(out_path, encoded)
    return MixResult(
        out=str(out_path),
        lufs=round(measured[0], 3),
        true_peak_dbtp=round(measured[1], 3),
        duration_s=round(n_samples / sr, 6),
        sample_rate_hz=sr,
        channels=channels,
        vocals_gain_db=round(vocals_gain_db + master_gain_db, 3),
        accompaniment_gain_db=round(master_gain_db, 3),
        limiter_reduction_db=round(reduction_db, 3),
        iterations=iterations,
        notes=tuple(note for note in notes if note),
    )


def _level_limit_encode(
    summed: np.ndarray, audio_format: str, settings: MixSettings, loudness: LoudnessSettings
) -> tuple[bytes, float, float, int, tuple[float, float]]:
    """Return (encoded file, master gain dB, limiter reduction dB, rounds, (LUFS, dBTP)).

    Each round applies the master gain, limits, encodes, decodes and measures. A true peak over
    the ceiling lowers the limiter's aim by the excess; a loudness off target moves the gain by a
    secant step (limiting makes loudness grow slower than gain).
    """
    sr, target = settings.sample_rate_hz, settings.target_lufs
    aim_dbtp = settings.true_peak_ceiling_dbtp - loudness.ceiling_margin_db
    gain_db = target - stem_lufs(summed, sr)
    previous: tuple[float, float] | None = None
    for iteration in range(1, loudness.max_iterations + 1):
        limited, reduction_db = limit_true_peak(
            summed * db_to_gain(gain_db),
            aim_dbtp,
            sr,
            loudness.limiter_window_ms,
            loudness.oversample_factor,
        )
        encoded = _encode(limited, sr, audio_format, settings.mp3_bitrate_kbps)
        decoded = _decode(encoded)
        lufs = stem_lufs(decoded, sr)
        peak_dbtp = true_peak_dbtp(decoded, loudness.oversample_factor)
        if peak_dbtp > settings.true_peak_ceiling_dbtp:
            aim_dbtp -= peak_dbtp - settings.true_peak_ceiling_dbtp + loudness.ceiling_margin_db
            continue
        if abs(lufs - target) <= loudness.tolerance_lu:
            return encoded, gain_db, reduction_db, iteration, (lufs, peak_dbtp)
        slope = 1.0
        if previous is not None and gain_db != previous[0]:
            slope = float(np.clip((lufs - previous[1]) / (gain_db - previous[0]), 0.1, 1.0))
        previous = (gain_db, lufs)
        gain_db += (target - lufs) / slope
    raise SvcqaError(
        f"The mix could not reach {target} LUFS with its true peak under "
        f"{settings.true_peak_ceiling_dbtp} dBTP in {loudness.max_iterations} rounds: this material "
        "would need more limiting than is sensible. Choose a quieter loudness target."
    )


def _output_format(out_path: Path, inputs: tuple[Path, ...]) -> str:
    audio_format = MIX_FORMATS.get(out_path.suffix.lower())
    if audio_format is None:
        raise SvcqaError(f"Cannot write {out_path.name}: choose a name ending in {', '.join(MIX_FORMATS)}.")
    if any(out_path.resolve() == path.resolve() for path in inputs):
        raise SvcqaError(f"The mix would overwrite its input {out_path}; choose another output name.")
    return audio_format


def _clipping_note(path: Path, audio: np.ndarray, clip_level: float) -> str:
    n_clipped = int(np.count_nonzero(np.abs(audio) >= clip_level))
    if n_clipped == 0:
        return ""
    return (
        f"{path.name} has {n_clipped} samples at or over full scale (clipped); the mix keeps the "
        "distortion but stays under the ceiling."
    )


def _to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    if audio.shape[0] == channels:
        return audio
    mono = audio.mean(axis=0, keepdims=True)
    return np.repeat(mono, channels, axis=0)


def _shift(audio: np.ndarray, offset_ms: float, sample_rate_hz: int, path: Path) -> np.ndarray:
    """Return ``audio`` delayed by ``offset_ms`` (positive) or advanced, its start cut (negative)."""
    offset_samples = round(offset_ms * sample_rate_hz / 1000.0)
    if offset_samples >= 0:
        return np.pad(audio, ((0, 0), (offset_samples, 0)))
    if -offset_samples >= audio.shape[-1]:
        raise SvcqaError(f"An offset of {offset_ms} ms cuts away all of {path.name}; use a smaller one.")
    return audio[:, -offset_samples:]


def _pad_to(audio: np.ndarray, n_samples: int) -> np.ndarray:
    return np.pad(audio, ((0, 0), (0, n_samples - audio.shape[-1])))


def _encode(audio: np.ndarray, sample_rate_hz: int, audio_format: str, mp3_bitrate_kbps: int) -> bytes:
    return audio_bytes(audio.T, sample_rate_hz, audio_format, _LOSSLESS_SUBTYPE, mp3_bitrate_kbps)


def _decode(encoded: bytes) -> np.ndarray:
    samples, _ = read_bytes(encoded)
    return np.ascontiguousarray(samples.T)
