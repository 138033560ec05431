"""Decode, probe and measure audio: thin wrappers over soundfile, ffmpeg and pyloudnorm.

Files soundfile (libsndfile) can read are streamed in chunks; anything else (m4a, aac, wma,
odd mp3s) is decoded by the ``ffmpeg`` program into a float32 pipe, also in chunks, so a
long file never sits in memory whole.

Example
-------
>>> import tempfile, numpy as np, soundfile as sf
>>> path = Path(tempfile.mkdtemp()) / "tone.wav"
>>> sf.write(path, np.zeros(4410, dtype="float32"), 44100)
>>> probe(path).duration_s
0.1
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyloudnorm
import scipy.signal
import soundfile as sf

from svcqa.core.errors import AudioError

_FFMPEG_TIMEOUT_S = 600


@dataclass(frozen=True)
class AudioInfo:
    """What a file header says about its audio."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    """Container and sample format, e.g. ``WAV/PCM_16`` or ``mp3/fltp``."""
    decoder: str
    """``soundfile`` or ``ffmpeg``."""

    @property
    def duration_s(self) -> float:
        """Length in seconds (0.0 for an empty stream)."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict with the duration included."""
        return {**asdict(self), "duration_s": self.duration_s}


def probe(path: Path) -> AudioInfo:
    """Return the header facts of ``path``; raise :class:`AudioError` when nothing can read it."""
    try:
        info = sf.info(str(path))
        return AudioInfo(
            sample_rate=int(info.samplerate),
            channels=int(info.channels),
            frames=int(info.frames),
            format=f"{info.format}/{info.subtype}",
            decoder="soundfile",
        )
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_error:
        sf_reason = str(sf_error)
    return _ffprobe(path, sf_reason)


def _ffprobe(path: Path, sf_reason: str) -> AudioInfo:
    """Return header facts from ffprobe, the fallback for files libsndfile cannot open."""
    if shutil.which("ffprobe") is None:
        raise AudioError(f"{sf_reason} (ffmpeg is not installed, so no other decoder was tried)")
    cmd = [
        "ffprobe", "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=sample_rate,channels,codec_name,sample_fmt,duration,duration_ts",
        "-show_entries", "format=format_name,duration",
        "-of", "json", "--", str(path),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioError("ffprobe timed out reading the file") from exc
    data = json.loads(done.stdout or "{}")
    streams = data.get("streams") or []
    if done.returncode != 0 or not streams:
        reason = (done.stderr.strip().splitlines() or ["no audio stream found"])[-1]
        raise AudioError(f"{sf_reason}; ffmpeg: {reason}")
    stream = streams[0]
    sample_rate = int(stream.get("sample_rate") or 0)
    duration = stream.get("duration") or (data.get("format") or {}).get("duration") or 0
    return AudioInfo(
        sample_rate=sample_rate,
        channels=int(stream.get("channels") or 0),
        frames=round(float(duration) * sample_rate),
        format=f"{(data.get('format') or {}).get('format_name', '?')}/"
        f"{stream.get('codec_name', '?')}:{stream.get('sample_fmt', '?')}",
        decoder="ffmpeg",
    )


def iter_chunks(path: Path, info: AudioInfo, chunk_s: float) -> Iterator[np.ndarray]:
    """Yield float32 arrays of shape (frames, channels), each at most ``chunk_s`` long."""
    block = max(int(chunk_s * info.sample_rate), 1)
    if info.decoder == "soundfile":
        try:
            yield from sf.blocks(str(path), blocksize=block, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"decoding failed part-way: {exc}") from exc
        return
    yield from _ffmpeg_chunks(path, info, block)


def _ffmpeg_chunks(path: Path, info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    """Yield float32 chunks decoded by ffmpeg at the file's own rate and channel count."""
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
        "-f", "f32le", "-acodec", "pcm_f32le",
        "-ac", str(info.channels), "-ar", str(info.sample_rate), "-",
    ]  # fmt: skip
    bytes_per_block = block_frames * info.channels * 4
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        while True:
            raw = proc.stdout.read(bytes_per_block)
            if not raw:
                break
            usable = len(raw) - len(raw) % (4 * info.channels)
            yield np.frombuffer(raw[:usable], dtype="<f4").reshape(-1, info.channels)
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait(timeout=_FFMPEG_TIMEOUT_S) != 0:
            raise AudioError(f"ffmpeg could not decode the file: {err.splitlines()[-1] if err else '?'}")


def read_mono(path: Path, max_duration_s: float | None = None) -> tuple[np.ndarray, int]:
    """Return the whole file (or its first ``max_duration_s``) as mono float32 and its rate."""
    info = probe(path)
    pieces: list[np.ndarray] = []
    total = 0
    limit = None if max_duration_s is None else int(max_duration_s * info.sample_rate)
    for chunk in iter_chunks(path, info, chunk_s=30.0):
        pieces.append(chunk.mean(axis=1))
        total += chunk.shape[0]
        if limit is not None and total >= limit:
            break
    mono = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return (mono[:limit] if limit is not None else mono).astype(np.float32), info.sample_rate


def integrated_lufs(samples: np.ndarray, sample_rate_hz: int) -> float:
    """Return the BS.1770 integrated loudness in LUFS (``-inf`` when silent or under 0.4 s)."""
    if samples.shape[0] < int(0.4 * sample_rate_hz):
        return -math.inf
    meter = pyloudnorm.Meter(sample_rate_hz)
    return float(meter.integrated_loudness(samples))


def dbfs(amplitude: float) -> float:
    """Return ``20*log10(amplitude)``, ``-inf`` for zero."""
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


DC_BLOCK_HZ = 20.0
"""Cut-off of :func:`remove_dc`: below hearing, above the drift an undertrained model puts out."""


def remove_dc(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Return ``samples`` (any shape, time on the last axis) through a zero-phase 20 Hz high-pass.

    DC and rumble use up headroom without being heard; an undertrained generator often puts
    out a constant offset, which a loudness target would otherwise amplify.
    """
    sos = scipy.signal.butter(2, DC_BLOCK_HZ, "highpass", fs=sample_rate_hz, output="sos")
    if samples.shape[-1] <= 3 * (2 * sos.shape[0] + 1):
        return np.asarray(samples, dtype=np.float32)
    return scipy.signal.sosfiltfilt(sos, np.asarray(samples, dtype=np.float64), axis=-1).astype(np.float32)
