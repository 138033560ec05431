"""Decode and probe audio: thin wrappers over soundfile and the ffmpeg program.

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

import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from svcqa.core.errors import AudioError
from svcqa.core.records import Record, to_dict

_FFMPEG_TIMEOUT_S = 600


@dataclass(frozen=True)
class AudioInfo(Record):
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
        return {**to_dict(self), "duration_s": self.duration_s}


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


def read(
    path: Path,
    sample_rate_hz: int | None = None,
    *,
    mono: bool = False,
    offset_s: float = 0.0,
    duration_s: float | None = None,
) -> tuple[np.ndarray, int]:
    """Return the audio of ``path`` as float32 ``(frames, channels)`` (``(frames,)`` when ``mono``)
    and its sample rate: the one whole-file reader.

    Parameters
    ----------
    path : Path
        Anything :func:`probe` can decode (soundfile, else ffmpeg); decoded in chunks.
    sample_rate_hz : int > 0, optional
        Resample to this rate (:func:`svcqa.audio.resample.resample`); the file's own by default.
    mono : bool
        Average the channels.
    offset_s, duration_s : float >= 0
        Read only this span (from the file's start; to its end when ``duration_s`` is None).

    Raises
    ------
    AudioError
        Nothing can decode the file; the message holds the decoder's reason.
    """
    from svcqa.audio.resample import resample

    info = probe(path)
    rate_hz = info.sample_rate
    first = max(0, round(offset_s * rate_hz))
    last = None if duration_s is None else first + max(0, round(duration_s * rate_hz))
    pieces: list[np.ndarray] = []
    position = 0
    for chunk in iter_chunks(path, info, chunk_s=30.0):
        start, stop = position, position + chunk.shape[0]
        position = stop
        if stop <= first:
            continue
        pieces.append(chunk[max(0, first - start) : None if last is None else max(0, last - start)])
        if last is not None and stop >= last:
            break
    channels = max(info.channels, 1)
    frames = np.concatenate(pieces) if pieces else np.zeros((0, channels), dtype=np.float32)
    samples = frames.mean(axis=1, dtype=np.float32) if mono else frames.astype(np.float32, copy=False)
    if sample_rate_hz is not None and sample_rate_hz != rate_hz:
        return resample(samples, rate_hz, sample_rate_hz), sample_rate_hz
    return samples, rate_hz


def read_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Return the audio of an encoded file held in memory (WAV, FLAC, MP3, OGG) as float32
    ``(frames, channels)`` and its sample rate; :class:`AudioError` when it cannot be decoded."""
    try:
        samples, rate_hz = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"cannot decode the audio: {exc}") from exc
    return samples, int(rate_hz)
