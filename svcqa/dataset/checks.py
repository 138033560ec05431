"""Per-file measurements (decoded once, in chunks) and the flags derived from them.

Measuring is the expensive part and is cached; flags are re-derived from the cached numbers
and the current settings on every audit, so changing a threshold in the UI is instant.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from svcqa.core.errors import AudioError
from svcqa.core.records import Record
from svcqa.core.settings import AuditSettings, PitchSettings, VoiceSettings
from svcqa.dataset.flags import flag_info
from svcqa.dataset.threads import one_blas_thread

if TYPE_CHECKING:
    from svcqa.audio.resample import StreamResampler

MEASURE_VERSION = 2
"""Bump when what :func:`measure_file` computes changes, to invalidate cached rows. (The voice
analysis is keyed by the pitch and voice settings too: a new field there invalidates its rows.)"""

VOICE_SAMPLE_RATE_HZ = 16_000
VOICE_MAX_S = 600.0
"""Pitch and speech/singing analysis looks at the first ten minutes of a file at most."""

_SAFE_CHARS = re.compile(r"[A-Za-z0-9._\-/]")


@dataclass(frozen=True)
class Measurement(Record):
    """Numbers measured from one file's header and decoded audio (what the cache stores)."""

    path: str
    size_bytes: int
    mtime_ns: int
    readable: bool = True
    error: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    frames: int | None = None
    duration_s: float | None = None
    format: str | None = None
    decoder: str | None = None
    peak_dbfs: float | None = None
    lufs: float | None = None
    dc_offset: float | None = None
    clip_events: int | None = None
    silence_share: float | None = None
    leading_silence_s: float | None = None
    trailing_silence_s: float | None = None
    content_hash: str | None = None
    voice: dict[str, Any] | None = None
    """Pitch and speech/singing analysis (``svcqa.dataset.voice_kind.analyse_voice``)."""
    identity: dict[str, Any] | None = None
    """Voice embedding (``vector``), noise figures (``noise_floor_db``, ``hiss_db``, ``hum_db``,
    ``hum_hz``) and DNSMOS scores (``dnsmos_*``), each with a ``*_reason``."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (``voice`` and ``identity`` copied, one level deep).

        Every field is already a JSON value; this skips the generic walk, which visits each of
        the 256 numbers of a voice embedding and made a warm audit of an hour of clips slow.
        """
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["voice"] = None if self.voice is None else dict(self.voice)
        data["identity"] = None if self.identity is None else dict(self.identity)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Measurement:
        """Return the measurement ``data`` describes (unknown keys ignored; every field is a JSON value)."""
        return cls(**{name: value for name, value in (data or {}).items() if name in _MEASUREMENT_FIELDS})


_MEASUREMENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Measurement))


@dataclass(frozen=True)
class Flag(Record):
    """One problem found in a clip: stable code, a message saying what was measured, a fix.

    ``evidence`` holds the measured figures behind the flag and the threshold they crossed
    (e.g. ``{"noise_floor_db": -8.1, "noisy_floor_db": -15.0}``), for scripts and tables.
    """

    code: str
    message: str
    fix: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Accumulator:
    """Running statistics over decoded chunks, so a long file is never held whole."""

    silence_threshold: float
    frame_len: int
    clip_level: float
    clip_min_run: int
    peak: float = 0.0
    sum_samples: float = 0.0
    n_samples: int = 0
    clip_events: int = 0
    frame_silent: list[np.ndarray] = field(default_factory=list)
    leftover: np.ndarray | None = None
    loudness_parts: list[tuple[float, int]] = field(default_factory=list)
    hasher: Any = field(default_factory=lambda: hashlib.blake2b(digest_size=16))

    def add(self, chunk: np.ndarray, sample_rate_hz: int) -> None:
        """Fold one (frames, channels) float32 chunk into the statistics."""
        from svcqa.audio import loudness  # here: reading cached rows must not import pyloudnorm/scipy

        if chunk.size == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(chunk))))
        self.sum_samples += float(chunk.sum(dtype=np.float64))
        self.n_samples += chunk.size
        self.clip_events += _count_clip_runs(chunk, self.clip_level, self.clip_min_run)
        quantised = np.clip(np.round(chunk * 32767.0), -32768, 32767).astype("<i2")
        self.hasher.update(quantised.tobytes())
        mono = chunk.mean(axis=1)
        if self.leftover is not None and self.leftover.size:
            mono = np.concatenate([self.leftover, mono])
        n_full = mono.size // self.frame_len * self.frame_len
        frames = mono[:n_full].reshape(-1, self.frame_len)
        rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
        self.frame_silent.append(rms < self.silence_threshold)
        self.leftover = mono[n_full:]
        self.loudness_parts.append((loudness.integrated_lufs(chunk, sample_rate_hz), chunk.shape[0]))

    def lufs(self) -> float:
        """Return integrated loudness over all chunks (energy-weighted mean of chunk loudness).

        Exact for files of one chunk; for longer files each chunk is gated on its own, a close
        approximation of BS.1770 gating that keeps memory flat.
        """
        finite = [(lufs, n) for lufs, n in self.loudness_parts if math.isfinite(lufs)]
        if not finite:
            return -math.inf
        weight = sum(n for _, n in finite)
        power = sum(n * 10 ** (lufs / 10) for lufs, n in finite) / weight
        return 10 * math.log10(power)


def _count_clip_runs(chunk: np.ndarray, level: float, min_run: int) -> int:
    """Return how many runs of >= ``min_run`` consecutive full-scale samples each channel has."""
    events = 0
    for channel in chunk.T:
        hot = np.abs(channel) >= level
        if not hot.any():
            continue
        edges = np.diff(np.concatenate(([0], hot.view(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        events += int(np.count_nonzero(ends - starts >= min_run))
    return events


def _finite_or_none(value: float, digits: int = 2) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def measure_file(
    path: Path,
    relative: str,
    settings: AuditSettings,
    pitch: PitchSettings | None = None,
    voice_settings: VoiceSettings | None = None,
) -> Measurement:
    """Return the measurements of one audio file; decoder failures become ``readable=False``.

    BLAS runs on one thread meanwhile (:mod:`svcqa.dataset.threads`).
    """
    with one_blas_thread():
        return _measure_file(path, relative, settings, pitch, voice_settings)


def _measure_file(
    path: Path,
    relative: str,
    settings: AuditSettings,
    pitch: PitchSettings | None,
    voice_settings: VoiceSettings | None,
) -> Measurement:
    from svcqa.audio import decode, loudness

    stat = path.stat()
    base = Measurement(path=relative, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)
    if stat.st_size == 0:
        return dataclasses.replace(base, frames=0, duration_s=0.0, error="the file is 0 bytes")
    if stat.st_size > settings.max_file_bytes:
        return dataclasses.replace(
            base,
            readable=False,
            error=f"the file is {stat.st_size / 1e9:.1f} GB, over the "
            f"{settings.max_file_bytes / 1e9:.1f} GB limit, and was not decoded",
        )
    try:
        info = decode.probe(path)
        header = {
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "format": info.format,
            "decoder": info.decoder,
        }
        if info.sample_rate <= 0 or info.channels <= 0:
            raise AudioError("the header has no sample rate or no channels")
        acc = _Accumulator(
            silence_threshold=10 ** (settings.silence_dbfs / 20),
            frame_len=max(int(settings.silence_frame_s * info.sample_rate), 1),
            clip_level=settings.clip_level,
            clip_min_run=settings.clip_min_run_samples,
        )
        voice_stream = _VoiceStream(info.sample_rate) if pitch is not None else None
        for chunk in decode.iter_chunks(path, info, settings.loudness_chunk_s):
            acc.add(chunk, info.sample_rate)
            if voice_stream is not None:
                voice_stream.add(chunk)
    except AudioError as exc:
        return dataclasses.replace(base, readable=False, error=str(exc))
    frames = acc.n_samples // info.channels
    if frames == 0:
        return dataclasses.replace(
            base, **header, frames=0, duration_s=0.0, error="the file holds no samples"
        )
    silent = np.concatenate(acc.frame_silent) if acc.frame_silent else np.zeros(0, dtype=bool)
    frame_s = acc.frame_len / info.sample_rate
    voice = identity = None
    if voice_stream is not None and pitch is not None:
        voice = voice_stream.analyse(pitch)
        identity = voice_stream.identity(voice_settings or VoiceSettings())
    return dataclasses.replace(
        base,
        **header,
        frames=frames,
        duration_s=round(frames / info.sample_rate, 3),
        peak_dbfs=_finite_or_none(loudness.dbfs(acc.peak)),
        lufs=_finite_or_none(acc.lufs()),
        dc_offset=round(acc.sum_samples / acc.n_samples, 5),
        clip_events=acc.clip_events,
        silence_share=round(float(silent.mean()), 4) if silent.size else 1.0,
        leading_silence_s=round(_run_length(silent) * frame_s, 3),
        trailing_silence_s=round(_run_length(silent[::-1]) * frame_s, 3),
        content_hash=acc.hasher.hexdigest(),
        voice=voice,
        identity=identity,
    )


class _VoiceStream:
    """Collects the first :data:`VOICE_MAX_S` of a file as 16 kHz mono for pitch analysis."""

    def __init__(self, sample_rate_hz: int) -> None:
        from svcqa.audio.resample import StreamResampler

        self._resampler: StreamResampler | None = StreamResampler(sample_rate_hz, VOICE_SAMPLE_RATE_HZ)
        self._parts: list[np.ndarray] = []
        self._n = 0

    def add(self, chunk: np.ndarray) -> None:
        if self._n >= VOICE_MAX_S * VOICE_SAMPLE_RATE_HZ or self._resampler is None:
            return
        part = self._resampler.add(chunk.mean(axis=1))
        self._parts.append(part)
        self._n += part.size

    def mono(self) -> np.ndarray:
        """Return the collected 16 kHz mono audio (flushing the resampler once)."""
        if self._resampler is not None:
            self._parts.append(self._resampler.flush())
            self._resampler = None
            self._parts = [np.concatenate(self._parts)[: int(VOICE_MAX_S * VOICE_SAMPLE_RATE_HZ)]]
        return self._parts[0]

    def identity(self, settings: VoiceSettings) -> dict[str, Any]:
        """Return the voice embedding, noise figures and DNSMOS scores the settings ask for (reasons when absent)."""
        out: dict[str, Any] = {}
        mono = self.mono()
        if settings.measure_noise:
            from svcqa.dataset.noise import measure_noise

            out.update(measure_noise(mono, settings).to_dict())
        if settings.embed_voices:
            try:
                from svcqa.dataset.voice_identity import embed_clip

                embedding = embed_clip(mono, settings)
                out.update(vector=None if embedding.vector is None else list(embedding.vector))
                out.update(embedded_s=embedding.embedded_s, embed_reason=embedding.reason)
            except Exception as exc:  # a missing package or model must not hide the other checks
                out.update(vector=None, embed_reason=f"{type(exc).__name__}: {exc}")
        if settings.score_quality:
            try:
                from svcqa.dataset.quality import score_clip

                scores = score_clip(mono, settings).to_dict()
                out.update({k: scores[k] for k in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")})
                out.update(quality_reason=scores["reason"])
            except Exception as exc:
                out.update(quality_reason=f"{type(exc).__name__}: {exc}")
        return out

    def analyse(self, pitch: PitchSettings) -> dict[str, Any]:
        mono = self.mono()
        try:
            from svcqa.dataset.voice_kind import analyse_voice

            return analyse_voice(mono, VOICE_SAMPLE_RATE_HZ, pitch).to_dict()
        except Exception as exc:  # a pitch bug must not hide the file's other measurements
            return {"kind": "unknown", "voice_error": f"{type(exc).__name__}: {exc}"}


def _run_length(mask: np.ndarray) -> int:
    """Return how many leading elements of ``mask`` are True."""
    if mask.size == 0:
        return 0
    false_at = np.flatnonzero(~mask)
    return int(mask.size if false_at.size == 0 else false_at[0])


def path_flags(relative: str) -> list[Flag]:
    """Return the name-safety flags of a dataset-relative POSIX path."""
    flags = []
    non_ascii = sorted({c for c in relative if ord(c) > 127})
    if non_ascii:
        flags.append(
            _flag(
                "non_ascii_name",
                f"Non-ASCII characters in the path: {''.join(non_ascii)!r}.",
                characters="".join(non_ascii),
            )
        )
    unsafe = sorted({c for c in relative if ord(c) <= 127 and not _SAFE_CHARS.match(c)})
    if unsafe:
        shown = ", ".join("space" if c == " " else repr(c) for c in unsafe)
        flags.append(
            _flag("unsafe_chars", f"Unsafe characters in the path: {shown}.", characters="".join(unsafe))
        )
    return flags


def derive_flags(m: Measurement, settings: AuditSettings) -> list[Flag]:
    """Return the flags of one measured clip under ``settings`` (duplicates are added by the run)."""
    flags = path_flags(m.path)
    if not m.readable:
        return [_flag("unreadable", f"Cannot decode: {m.error}.", error=m.error), *flags]
    if not m.frames:
        return [_flag("empty", f"No audio: {m.error or 'zero samples'}.", error=m.error), *flags]
    duration_s = m.duration_s or 0.0
    if duration_s < settings.min_duration_s:
        flags.append(
            _flag(
                "too_short",
                f"{duration_s:.2f} s, under {settings.min_duration_s:g} s.",
                duration_s=duration_s,
                min_duration_s=settings.min_duration_s,
            )
        )
    if duration_s > settings.max_duration_s:
        flags.append(
            _flag(
                "too_long",
                f"{duration_s:.1f} s, over {settings.max_duration_s:g} s.",
                duration_s=duration_s,
                max_duration_s=settings.max_duration_s,
            )
        )
    if m.sample_rate and m.sample_rate < settings.min_sample_rate_hz:
        flags.append(
            _flag(
                "low_sample_rate",
                f"{m.sample_rate} Hz, under {settings.min_sample_rate_hz} Hz.",
                sample_rate=m.sample_rate,
                min_sample_rate_hz=settings.min_sample_rate_hz,
            )
        )
    if m.channels and m.channels > 1:
        flags.append(_flag("multichannel", f"{m.channels} channels.", channels=m.channels))
    if (m.clip_events or 0) > settings.clip_max_events:
        flags.append(
            _flag(
                "clipping",
                f"{m.clip_events} runs of {settings.clip_min_run_samples}+ full-scale samples.",
                clip_events=m.clip_events,
                clip_max_events=settings.clip_max_events,
            )
        )
    if (m.silence_share or 0.0) > settings.mostly_silent_share:
        flags.append(
            _flag(
                "mostly_silent",
                f"{(m.silence_share or 0) * 100:.0f}% of the clip is below {settings.silence_dbfs:g} dBFS.",
                silence_share=m.silence_share,
                mostly_silent_share=settings.mostly_silent_share,
            )
        )
    if m.lufs is None or m.lufs < settings.too_quiet_lufs:
        level = "silent" if m.lufs is None else f"{m.lufs:.1f} LUFS"
        flags.append(
            _flag(
                "too_quiet",
                f"Loudness {level}, under {settings.too_quiet_lufs:g} LUFS.",
                lufs=m.lufs,
                too_quiet_lufs=settings.too_quiet_lufs,
            )
        )
    return flags


def _flag(code: str, message: str, **evidence: Any) -> Flag:
    return Flag(code=code, message=message, fix=flag_info(code).fix, evidence=evidence)
