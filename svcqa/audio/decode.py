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
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from svcqa.core.errors import AudioError
from svcqa.core.records import Record, to_dict
from svcqa.core.settings import MAX_AUDIO_CHANNELS, MAX_SAMPLE_RATE_HZ

_FFMPEG_TIMEOUT_S = 600
_FFMPEG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
"""The ``[codec @ 0x55...]`` prefix of ffmpeg's messages: a memory address, not a reason."""


class AudioTooLongError(AudioError):
    """A file is longer than the command or page that reads it takes (its header says so, or
    it decoded past the limit)."""


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
    """Return the header facts of ``path``; raise :class:`AudioError` when nothing can read it
    or its header claims more channels or a higher rate than any real recording has
    (:data:`~svcqa.core.settings.MAX_AUDIO_CHANNELS`, :data:`~svcqa.core.settings.MAX_SAMPLE_RATE_HZ`)."""
    try:
        sf_info = sf.info(str(path))
        info = AudioInfo(
            sample_rate=int(sf_info.samplerate),
            channels=int(sf_info.channels),
            frames=int(sf_info.frames),
            format=f"{sf_info.format}/{sf_info.subtype}",
            decoder="soundfile",
        )
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_error:
        info = _ffprobe(path, _one_line(str(sf_error)))
    return _checked_header(info)


def _checked_header(info: AudioInfo) -> AudioInfo:
    """Return ``info``; :class:`AudioError` when its header claims an impossible layout."""
    if info.channels > MAX_AUDIO_CHANNELS:
        raise AudioError(
            f"the header claims {info.channels} channels (more than {MAX_AUDIO_CHANNELS}): the file is damaged"
        )
    if info.sample_rate > MAX_SAMPLE_RATE_HZ:
        raise AudioError(
            f"the header claims a sample rate of {info.sample_rate} Hz (more than {MAX_SAMPLE_RATE_HZ}): "
            "the file is damaged"
        )
    return info


def check_duration(info: AudioInfo, max_duration_s: float | None, what: str) -> None:
    """Raise :class:`AudioTooLongError` when ``info`` says the file is longer than ``max_duration_s``
    (None: no limit); ``what`` names the work in the message, e.g. ``"the mix (mix.max_input_s)"``.

    >>> check_duration(AudioInfo(8000, 1, 8000 * 7200, "FLAC/PCM_16", "soundfile"), 1800.0, "the mix")
    Traceback (most recent call last):
    ...
    svcqa.audio.decode.AudioTooLongError: it is 120 min long, over the 30 min limit of the mix
    """
    if max_duration_s is not None and info.duration_s > max_duration_s:
        raise AudioTooLongError(
            f"it is {_minutes(info.duration_s)} long, over the {_minutes(max_duration_s)} limit of {what}"
        )


def _minutes(duration_s: float) -> str:
    return f"{duration_s / 60:.0f} min" if duration_s >= 60 else f"{duration_s:.0f} s"


def _one_line(reason: str) -> str:
    """Return a decoder's message as one line."""
    return " ".join(reason.split())


def _ffmpeg_reason(stderr: str, default: str) -> str:
    """Return ffmpeg's last error line, without its ``[codec @ address]`` prefix or repeat notes."""
    lines = [_FFMPEG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    reasons = [line for line in lines if line and not line.startswith("Last message repeated")]
    return reasons[-1] if reasons else default


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
    try:  # ffprobe stops writing its JSON where it fails: a broken file leaves it half-written
        data = json.loads(done.stdout or "{}")
    except ValueError:
        data = {}
    streams = (data.get("streams") if isinstance(data, dict) else None) or []
    if done.returncode != 0 or not streams:
        raise AudioError(f"{sf_reason}; ffmpeg: {_ffmpeg_reason(done.stderr, 'no audio stream found')}")
    stream, container = streams[0], data.get("format") or {}
    try:
        sample_rate = int(stream.get("sample_rate") or 0)
        duration_s = float(stream.get("duration") or container.get("duration") or 0)
        channels = int(stream.get("channels") or 0)
    except (TypeError, ValueError) as exc:
        raise AudioError(f"{sf_reason}; ffmpeg reads a header it cannot make sense of ({exc})") from exc
    if not np.isfinite(duration_s) or duration_s < 0:
        raise AudioError(f"{sf_reason}; ffmpeg reads a duration of {duration_s} s")
    return AudioInfo(
        sample_rate=sample_rate,
        channels=channels,
        frames=round(duration_s * sample_rate),
        format=f"{container.get('format_name', '?')}/{stream.get('codec_name', '?')}:{stream.get('sample_fmt', '?')}",
        decoder="ffmpeg",
    )


def iter_chunks(
    path: Path,
    info: AudioInfo,
    chunk_s: float,
    max_duration_s: float | None = None,
    work: str = "this command",
) -> Iterator[np.ndarray]:
    """Yield float32 arrays of shape (frames, channels), each at most ``chunk_s`` long.

    With ``max_duration_s``, a file whose header claims more is refused before decoding, and one
    whose stream runs on past its header's length and the limit is stopped there
    (:class:`AudioTooLongError` naming ``work``), so the work stays bounded whatever the file says.
    """
    check_duration(info, max_duration_s, work)
    block = max(int(chunk_s * info.sample_rate), 1)
    limit_frames = None if max_duration_s is None else int(max_duration_s * info.sample_rate) + block
    position = 0
    for chunk in _decoded_chunks(path, info, block):
        position += chunk.shape[0]
        if limit_frames is not None and position > limit_frames:
            raise AudioTooLongError(
                f"it decodes to more than the {_minutes(max_duration_s or 0.0)} limit of {work}, "
                "though its header claims less"
            )
        yield chunk


def _decoded_chunks(path: Path, info: AudioInfo, block_frames: int) -> Iterator[np.ndarray]:
    if info.decoder == "soundfile":
        try:
            yield from sf.blocks(str(path), blocksize=block_frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioError(f"decoding failed part-way: {_one_line(str(exc))}") from exc
        return
    yield from _ffmpeg_chunks(path, info, block_frames)


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
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait(timeout=_FFMPEG_TIMEOUT_S) != 0:
            raise AudioError(f"ffmpeg could not decode the file: {_ffmpeg_reason(err, '?')}")


def read(
    path: Path,
    sample_rate_hz: int | None = None,
    *,
    mono: bool = False,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    max_duration_s: float | None = None,
    work: str = "this command",
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
    max_duration_s : float > 0, optional
        Refuse a whole-file read of a longer file before decoding it (:class:`AudioTooLongError`
        naming ``work``, e.g. ``"the mix (mix.max_input_s)"``); a span read is bounded already.

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
    limit_s = max_duration_s if duration_s is None else None
    for chunk in iter_chunks(path, info, chunk_s=30.0, max_duration_s=limit_s, work=work):
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
        raise AudioError(f"cannot decode the audio: {_one_line(str(exc))}") from exc
    return samples, int(rate_hz)
