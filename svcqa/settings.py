"""Every threshold and default svcqa uses, in one place.

Each section is a frozen dataclass; :class:`Settings` groups them. The UI edits a copy
(``dataclasses.replace``) and saves it to ``<workspace>/.svcqa/settings.json``; the CLI and
the tests read the same object, so a number lives here and nowhere else.

Example
-------
>>> s = Settings()
>>> s.audit.min_duration_s, s.audit.max_duration_s
(2.0, 25.0)
>>> s2 = s.with_section("audit", min_duration_s=3.0)
>>> s2.audit.min_duration_s
3.0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from svcqa.errors import WorkspaceError


@dataclass(frozen=True)
class AuditSettings:
    """Thresholds of the dataset audit (issue: foundation)."""

    min_duration_s: float = 2.0
    max_duration_s: float = 25.0
    sweet_spot_min_s: float = 10.0
    sweet_spot_max_s: float = 20.0
    recommended_total_s: float = 3600.0
    min_sample_rate_hz: int = 44_100
    clip_level: float = 0.999
    """A sample at or above this absolute value counts as full scale."""
    clip_min_run_samples: int = 3
    """Consecutive full-scale samples that make one clipping event."""
    clip_max_events: int = 0
    """More clipping events than this flags the clip."""
    silence_dbfs: float = -50.0
    """A 20 ms frame whose RMS is below this level counts as silence."""
    silence_frame_s: float = 0.02
    mostly_silent_share: float = 0.5
    too_quiet_lufs: float = -40.0
    max_file_bytes: int = 2_000_000_000
    """Files larger than this are not decoded (reported as unreadable)."""
    loudness_chunk_s: float = 60.0
    """Audio is decoded in chunks of this length, so memory stays flat on long files."""
    workers: int = 0
    """Worker processes for the audit; 0 means one per CPU core."""


@dataclass(frozen=True)
class PitchSettings:
    """Pitch tracking, coverage and speech-vs-singing (issue: pitch and speech)."""

    f0_min_hz: float = 65.0
    f0_max_hz: float = 1100.0
    time_step_s: float = 0.02
    """Frame hop of the f0 contour; Praat's cost is per frame, 20 ms keeps it near 1 ms per audio second."""
    tracker: str = "parselmouth"
    """One of ``svcqa.audit.pitch.TRACKERS``: parselmouth, crepe-tiny, crepe-full, rmvpe."""
    analysis_sample_rate_hz: int = 8000
    """Praat runs on a copy at this rate; it must exceed twice ``f0_max_hz``."""
    praat_voicing_threshold: float = 0.45
    praat_silence_threshold: float = 0.03
    """Frames quieter than this fraction of the clip's peak are unvoiced (Praat's default)."""
    crepe_voicing_threshold: float = 0.21
    """torchcrepe periodicity at or above which a frame counts as voiced."""
    rmvpe_voicing_threshold: float = 0.03
    rmvpe_model_file: str = "models/rmvpe.onnx"
    """Workspace-relative path of the RMVPE ONNX model."""
    min_voiced_run_s: float = 0.06
    """Voiced runs shorter than this are tracker noise and are dropped."""
    vibrato_smoothing_s: float = 0.2
    """Moving-mean length that averages vibrato out of the contour (one period at 5 Hz)."""
    silence_dbfs: float = -50.0
    """A clip whose loudest 20 ms frame is below this RMS level is ``silence``."""
    min_voiced_share: float = 0.15
    """Under this share of voiced frames among non-silent frames, a clip is ``unknown``."""
    singing_min_prob: float = 0.5
    """``singing_prob`` at or above which a judgeable clip is ``singing``, else ``speech``."""
    held_min_s: float = 0.3
    """A note is held when its smoothed pitch stays steady for at least this long."""
    held_tolerance_semitones: float = 0.5
    """Largest pitch spread (semitones) inside a held note once vibrato is averaged out."""
    held_tolerance_db: float = 10.0
    """Largest level spread inside a held note; a decaying reverb tail exceeds it."""
    block_s: float = 4.0
    """The classifier judges blocks of about this length, then combines them."""
    thin_note_s: float = 10.0
    coverage_low_midi: int = 36
    coverage_high_midi: int = 96
    range_low_percentile: float = 2.0
    range_high_percentile: float = 98.0
    min_judgeable_voiced_s: float = 1.0
    mixed_min_clips: int = 3
    mixed_min_share: float = 0.05
    song_min_note_s: float = 1.0
    max_transpose_semitones: int = 12
    declared_kind: str = "singing"


@dataclass(frozen=True)
class SlicerSettings:
    """Audio Slicer parameters (openvpi defaults) and the length guarantees (issue: preparation)."""

    threshold_db: float = -40.0
    min_length_ms: int = 5000
    min_interval_ms: int = 300
    hop_size_ms: int = 10
    max_sil_kept_ms: int = 500
    max_piece_s: float = 25.0
    min_piece_s: float = 2.0
    short_piece_policy: str = "merge"
    """``merge`` a piece under ``min_piece_s`` into a neighbour, or ``drop`` it."""
    output_subtype: str = "PCM_16"
    """WAV sample format of sliced pieces (a soundfile subtype)."""


@dataclass(frozen=True)
class PrepareSettings:
    """Clean-up defaults (issue: preparation)."""

    target_sample_rate_hz: int = 44_100
    target_lufs: float = -23.0
    peak_ceiling_dbfs: float = -1.0
    to_mono: bool = True
    normalise: bool = True
    rename_safe: bool = True
    slice_long: bool = True
    """Slice clips over the slicer's ``max_piece_s`` instead of excluding them as ``too_long``."""
    output_subtype: str = "PCM_16"
    """WAV sample format of prepared clips (so-vits-svc-fork writes PCM_16 itself)."""
    exclude_flags: tuple[str, ...] = (
        "speech",
        "too_short",
        "too_long",
        "mostly_silent",
        "duplicate",
        "unreadable",
        "empty",
    )


@dataclass(frozen=True)
class TrainSettings:
    """Training defaults (issue: training)."""

    target_steps: int = 60_000
    suggested_steps: int = 20_000
    listen_from_step: int = 10_000
    batch_size: int = 16
    log_interval: int = 200
    eval_interval: int = 800
    keep_ckpts_when_archived: int = 3
    disk_warn_free_bytes: int = 5_000_000_000
    f0_method: str = "auto"
    """Pitch tracker for ``svc pre-hubert``; "auto" picks the most accurate one installed."""
    epochs: int = 10_000
    """so-vits-svc-fork's own epoch limit (its template's value); ``target_steps`` stops earlier."""
    num_workers: int = 4
    """DataLoader workers of ``svc train``; at least 1 (0 fails on persistent workers)."""
    stop_timeout_s: float = 60.0
    """How long a stop waits after the interrupt before it terminates the job."""


@dataclass(frozen=True)
class SeparationSettings:
    """Separation through audio-separator (issue: separation and mix).

    Default models, from audio-separator's supported list and its bundled median scores
    (MUSDB18-HQ SDR, dB): ``vocals_model`` is BS-Roformer-Viperx-1297, the library's own default,
    vocals 11.8 / instrumental 16.5 -- the best instrumental of the scored two-stem models that
    also keep the vocals clean (both stems go on: vocals to conversion, instrumental to the mix).
    ``dereverb_model`` (UVR-DeEcho-DeReverb) and ``karaoke_model`` (5_HP-Karaoke-UVR) are the
    UVR5 VR models the cover tutorial uses; the first removes echo as well as reverb.
    """

    stages: tuple[str, ...] = ("vocals", "dereverb", "karaoke")
    """Which stages run, in the fixed order vocals -> dereverb -> karaoke."""
    vocals_model: str = "model_bs_roformer_ep_317_sdr_12.9755.ckpt"
    dereverb_model: str = "UVR-DeEcho-DeReverb.pth"
    karaoke_model: str = "5_HP-Karaoke-UVR.pth"
    allow_download: bool = True
    """Let audio-separator download missing model and data files (needs network)."""
    mdx_segment_size: int = 256
    """MDX-Net frames per inference window; equal to the model's dim_t keeps ONNX inference."""
    mdx_overlap: float = 0.25
    batch_size: int = 1
    """Windows per inference call (MDX, MDX23C/Roformer, VR); 1 uses the least memory."""
    chunk_duration_s: float = 600.0
    """Songs longer than this are separated in chunks of this length and joined, so memory stays
    flat; the library cuts at whole milliseconds, so such stems may differ by 1 ms per chunk."""


@dataclass(frozen=True)
class MixSettings:
    """Final mix defaults (issue: separation and mix)."""

    target_lufs: float = -14.0
    true_peak_ceiling_dbtp: float = -1.0
    balance_db: float = 0.0
    """Vocals' integrated loudness minus the accompaniment's (LU)."""
    offset_ms: float = 0.0
    """Delay of the vocals against the accompaniment; negative cuts the vocals' start."""
    sample_rate_hz: int = 44_100
    lufs_tolerance_lu: float = 0.5
    oversample_factor: int = 4
    """True peak is measured and limited on the signal upsampled by this factor."""
    limiter_window_ms: float = 5.0
    """Look-ahead and attack/release ramp of the true-peak limiter."""
    max_iterations: int = 8
    silent_stem_lufs: float = -70.0
    """A stem quieter than this counts as silent."""
    clip_level: float = 0.999
    """Samples at or above this absolute value count as clipped (reported, not fatal)."""
    vocal_chain: bool = False
    highpass_hz: float = 80.0
    compressor_threshold_db: float = -18.0
    compressor_ratio: float = 3.0
    deess_freq_hz: float = 6500.0
    deess_gain_db: float = -4.0
    """Static cut at ``deess_freq_hz`` (a de-esser-like EQ, not a dynamic de-esser)."""
    reverb_room_size: float = 0.3
    reverb_wet: float = 0.12
    mp3_bitrate_kbps: int = 320


@dataclass(frozen=True)
class Settings:
    """All sections together; ``Settings()`` is the shipped default."""

    audit: AuditSettings = field(default_factory=AuditSettings)
    pitch: PitchSettings = field(default_factory=PitchSettings)
    slicer: SlicerSettings = field(default_factory=SlicerSettings)
    prepare: PrepareSettings = field(default_factory=PrepareSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    separation: SeparationSettings = field(default_factory=SeparationSettings)
    mix: MixSettings = field(default_factory=MixSettings)

    def with_section(self, section: str, **changes: Any) -> Settings:
        """Return a copy with fields of one section changed."""
        current = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **changes)})

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return a JSON-ready dict, one key per section."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build settings from a dict; unknown sections and keys are ignored, missing ones default."""
        sections: dict[str, Any] = {}
        for section_field in fields(cls):
            section_type = _SECTION_TYPES[section_field.name]
            given = data.get(section_field.name) or {}
            known = {f.name for f in fields(section_type)}
            values = {}
            for key, value in given.items():
                if key in known:
                    values[key] = tuple(value) if isinstance(value, list) else value
            sections[section_field.name] = section_type(**values)
        return cls(**sections)

    def section_hash(self, section: str) -> str:
        """Return a short stable hash of one section (part of cache keys)."""
        payload = json.dumps(dataclasses.asdict(getattr(self, section)), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


_SECTION_TYPES: dict[str, type] = {
    "audit": AuditSettings,
    "pitch": PitchSettings,
    "slicer": SlicerSettings,
    "prepare": PrepareSettings,
    "train": TrainSettings,
    "separation": SeparationSettings,
    "mix": MixSettings,
}


def load_settings(path: Path) -> Settings:
    """Return the settings saved at ``path``, or the defaults when there is no file."""
    if not path.exists():
        return Settings()
    try:
        return Settings.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise WorkspaceError(
            f"Settings file {path} is unreadable ({exc}). Fix or delete it to use the defaults."
        ) from exc


def save_settings(settings: Settings, path: Path) -> None:
    """Write settings atomically (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
