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
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from svcqa.core.errors import WorkspaceError
from svcqa.core.files import atomic_write_json, json_hash
from svcqa.core.records import Record, from_dict

DEFAULT_PORT = 8501
"""Port of the dashboard (``svcqa serve --port``); Makefile's PORT and .streamlit/config.toml repeat it."""
DEFAULT_APP_URL = f"http://127.0.0.1:{DEFAULT_PORT}/"
"""The dashboard's address on this machine, the base of vote-only links unless another is given."""
MAX_AUDIO_CHANNELS = 32
"""A header claiming more channels than this is damaged (or hostile): the file is refused as unreadable."""
MAX_SAMPLE_RATE_HZ = 768_000
"""A header claiming a higher sample rate than this is damaged (or hostile): refused as unreadable."""


@dataclass(frozen=True)
class AuditSettings(Record):
    """Thresholds of the dataset audit."""

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
    """Worker processes for the audit; 0 means one per physical CPU core, as many as free memory holds."""
    max_play_bytes: int = 60_000_000
    """The Dataset page offers a player for clips up to this size."""
    waveform_max_s: float = 600.0
    """The Dataset page draws the waveform of a clip's first this many seconds."""
    worker_memory_mb: int = 1200
    """Memory one audit worker may need with every voice check on (measured: under 0.5 GB of its
    own beside the libraries it shares); by default no more workers start than free memory holds."""
    worker_max_files: int = 100
    """A worker process measures at most this many files before a fresh one replaces it, so its
    memory cannot creep up over a long audit."""
    progress_every_s: float = 0.5
    """How often a running audit records how far it is, for the pages to show."""
    refresh_s: float = 1.0
    """How often the Dataset and Prepare pages redraw the progress of a running audit."""
    stop_timeout_s: float = 10.0
    """Seconds a stopped audit gets to end before it is terminated (what it measured is kept)."""


@dataclass(frozen=True)
class PitchSettings(Record):
    """Pitch tracking, coverage and speech-vs-singing."""

    f0_min_hz: float = 65.0
    f0_max_hz: float = 1100.0
    time_step_s: float = 0.02
    """Frame hop of the f0 contour; Praat's cost is per frame, 20 ms keeps it near 1.5 ms per audio second."""
    tracker: str = "parselmouth"
    """One of ``svcqa.dataset.pitch.TRACKERS``: parselmouth, crepe-tiny, crepe-full, rmvpe."""
    analysis_sample_rate_hz: int = 8000
    """Praat runs on a copy at this rate; it must exceed twice ``f0_max_hz``."""
    praat_search_ceiling_hz: float = 2200.0
    """Praat looks for f0 up to here, so a tone above ``f0_max_hz`` is found and dropped
    instead of being read as its subharmonic; keep it under a quarter of the analysis rate."""
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
    stable_min_strength: float = 0.5
    """Frames at the start or end of a note whose periodicity (Praat's autocorrelation peak, 0-1)
    is under this are left out of the pitch figures and coverage: a breathy attack or a fading
    end, not the note."""
    settle_s: float = 0.15
    """Stretches of pitch shorter than this between jumps are left out of the pitch figures: an
    onset that settles into the note, an end that falls off it, a short island of voicing."""
    segment_jump_semitones: float = 2.0
    """A frame-to-frame pitch move larger than this is a jump (a glide or a vibrato moves less)."""
    vibrato_smoothing_s: float = 0.2
    """About one vibrato period: the moving mean that averages vibrato out of the pitch figures,
    and the window of octave-jump cleaning and of the classifier's vibrato centre line."""
    silence_dbfs: float = -50.0
    """A clip whose loudest 20 ms frame is below this RMS level is ``silence``."""
    min_voiced_share: float = 0.15
    """Under this share of voiced frames among non-silent frames, a clip is ``unknown``."""
    singing_min_prob: float = 0.5
    """``singing_prob`` at or above which a judgeable clip is ``singing``, else ``speech``."""
    held_min_s: float = 0.2
    """A note is held when its pitch (vibrato centre line) and level stay steady this long."""
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
class SlicerSettings(Record):
    """Audio Slicer parameters (openvpi defaults) and the length guarantees."""

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


SLICER_PRESET_FIELDS: tuple[str, ...] = (
    "threshold_db",
    "min_length_ms",
    "min_interval_ms",
    "hop_size_ms",
    "max_sil_kept_ms",
)
"""The slicing parameters a preset sets; the length guarantees are not part of a preset."""
SLICER_PRESETS: dict[str, SlicerSettings] = {
    "default": SlicerSettings(),
    "tutorial": SlicerSettings(min_length_ms=8000),
}
"""Slicer presets by name: ``default`` is openvpi's, ``tutorial`` the so-vits-svc tutorial's
(minimum length raised to 8000 ms); only their :data:`SLICER_PRESET_FIELDS` count."""


@dataclass(frozen=True)
class PrepareSettings(Record):
    """Clean-up defaults."""

    target_sample_rate_hz: int = 44_100
    target_lufs: float = -23.0
    peak_ceiling_dbfs: float = -1.0
    to_mono: bool = True
    resample: bool = True
    """Resample to ``target_sample_rate_hz``; off keeps each source's own rate."""
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
    refresh_s: float = 2.0
    """How often the Prepare page's preprocessing panel refreshes while the job runs."""
    stop_timeout_s: float = 10.0
    """How long the Prepare page's Stop waits for preprocessing to end before terminating it."""


@dataclass(frozen=True)
class UploadSettings(Record):
    """Limits of files uploaded through the browser: one policy for every page.

    A file is refused when it is over its folder's size limit or longer than ``max_duration_s``
    (a small file of compressed silence can otherwise claim hours that every later read decodes).
    """

    max_bytes: int = 500_000_000
    """Size limit of an upload into any folder but ``songs/``."""
    max_song_bytes: int = 300_000_000
    """Size limit of a song uploaded into ``songs/`` (Renders and Cover pages)."""
    max_duration_s: float = 1800.0
    """Longest audio accepted (30 min): a song, or a set of takes, never hours."""


@dataclass(frozen=True)
class LimitSettings(Record):
    """The longest input each command and page decodes (seconds, by the file's header).

    A longer file is refused before any decoding, with a message naming the limit: a 1 MB FLAC
    of silence can claim hours, which would take minutes and gigabytes to decode. Files that
    decode past their header's length are stopped at the limit too. The audit needs no limit:
    it streams every file in chunks (a 2 h file takes seconds and flat memory).
    """

    slice_max_s: float = 3600.0
    """``svcqa slice``, ``svcqa prepare`` and the Prepare page slice recordings up to 1 h; cut longer ones into takes."""
    pitch_max_s: float = 1800.0
    """``svcqa pitch`` and the Dataset page's song check analyse songs up to 30 min (the upload limit)."""
    separate_max_s: float = 1800.0
    """``svcqa separate`` and the Cover page separate songs up to 30 min (the upload limit)."""
    mix_max_s: float = 1800.0
    """``svcqa mix`` and the Cover page mix stems up to 30 min: the mix holds both in memory."""


@dataclass(frozen=True)
class ServerSettings(Record):
    """Who may reach the dashboard (``svcqa serve``) and how wrong passwords are slowed down."""

    allowed_hosts: tuple[str, ...] = ()
    """Host names the dashboard answers to besides 127.0.0.1, localhost and [::1] at its port
    (``serve --host`` adds more): the names users type to reach it in public mode or through a
    proxy. Requests naming any other host are refused, which stops DNS rebinding."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses of reverse proxies whose ``X-Forwarded-For`` names the client; empty: the
    socket's peer is the client and that header is ignored."""
    login_free_failures: int = 5
    """Wrong passwords (or listening links) a client may send before it has to wait."""
    login_delay_s: float = 1.0
    """The first wait after the free failures; it doubles with every further failure."""
    login_max_delay_s: float = 300.0
    """The wait stops growing here, so no one (the owner included) is ever locked out for good."""
    login_forget_s: float = 86_400.0
    """A client's failures are forgotten this long after its last one."""


TRAIN_PRECISIONS: tuple[str, ...] = ("32", "16-mixed", "bf16-mixed")
"""Lightning precisions so-vits-svc-fork's config can ask for (``fp16_run``, ``bf16_run``)."""
TRAIN_ACCELERATORS: tuple[str, ...] = ("auto", "cpu", "gpu")
"""Lightning accelerators a training run may ask for; "auto" is the GPU when there is one."""


@dataclass(frozen=True)
class TrainSettings(Record):
    """Training defaults."""

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
    """How long a stop waits for the save after the stop request before it terminates the job."""
    force_stop_timeout_s: float = 5.0
    """How long "Stop now (no save)" waits after the interrupt before it terminates the job."""
    precision: str = "32"
    """One of :data:`TRAIN_PRECISIONS`: "32", "16-mixed" (config ``fp16_run``) or "bf16-mixed"
    (``bf16_run``); mixed precision takes less GPU memory on recent cards."""
    advised_max_steps: int = 60_000
    """The tutorial's "do not go past" mark, drawn on the loss curves."""
    stop_finish_epoch_s: float = 20.0
    """A stop finishes the current epoch first (so a resume continues at exactly the saved step)
    when that takes at most this long at the measured speed; otherwise it saves at once."""
    progress_interval_s: float = 2.0
    """How often the training process rewrites its progress file."""
    checkpoint_settle_s: float = 1.0
    """A checkpoint whose size held still this long (or that was closed) is complete."""
    refresh_s: float = 3.0
    """How often the Train page's live view refreshes."""
    devices: int = 0
    """Training processes, one per device, trained together with Lightning DDP when more than one
    (GPUs, or CPU processes with the "cpu" accelerator); 0: so-vits-svc-fork's own choice, every
    visible GPU, else one CPU process."""
    accelerator: str = "auto"
    """One of :data:`TRAIN_ACCELERATORS`: where the training processes run."""
    rank_watch_s: float = 1.0
    """How often each extra DDP process checks that the first one still runs (it ends when it has gone)."""


@dataclass(frozen=True)
class SeparationSettings(Record):
    """Separation through audio-separator.

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
class MixSettings(Record):
    """Final mix defaults."""

    target_lufs: float = -14.0
    true_peak_ceiling_dbtp: float = -1.0
    balance_db: float = 0.0
    """Vocals' integrated loudness minus the accompaniment's (LU)."""
    offset_ms: float = 0.0
    """Delay of the vocals against the accompaniment; negative cuts the vocals' start."""
    sample_rate_hz: int = 44_100
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
class CoverSettings(Record):
    """Song-to-cover pipeline defaults; models and mix have their own sections."""

    f0_method: str = "auto"
    """Pitch tracker of the conversion; "auto" picks the most accurate one installed (rmvpe, the
    tutorial's choice, is not in so-vits-svc-fork 4.2.30)."""
    transpose_semitones: int = 0
    speaker: str = ""
    """The model's speaker to sing with; empty: the one with the lowest id (as in renders)."""
    export_format: str = "wav"
    """Format of the mixed cover: wav, flac or mp3."""
    refresh_s: float = 1.0
    """How often the Cover page's progress panel refreshes while a job runs."""


@dataclass(frozen=True)
class ListenSettings(Record):
    """Blind listening test, ranking and rating."""

    min_comparisons: int = 3
    """Reveal is allowed once every checkpoint took part in at least this many comparisons."""
    repeat_share: float = 0.12
    """Share of pairs that repeat one of the listener's voted pairs with sides swapped."""
    repeat_min_gap: int = 3
    """A repeat is drawn only from pairs voted at least this many votes ago."""
    prior_strength: float = 0.1
    """Precision of the zero-mean prior on Bradley-Terry log-strengths (defined with few votes)."""
    confidence: float = 0.95
    """Coverage of the intervals around scores."""
    match_loudness: bool = True
    """Play every render of a pair or trial at the same integrated loudness."""
    loudness_lufs: float = -23.0
    peak_ceiling_dbfs: float = -1.0
    """The common loudness is lowered when a render's peak would pass this level."""
    max_trial_renders: int = 12
    """A rating trial shows at most this many checkpoints (plus the hidden duplicate)."""
    duplicate_tolerance_points: float = 10.0
    """A hidden duplicate scored within this many points of its original counts as consistent."""
    shortlist_size: int = 8
    """Checkpoints kept when the owner shortlists the most promising ones by objective metrics."""
    best_probability_draws: int = 4000
    """Draws from the ranking's normal approximation behind each checkpoint's probability of being the best."""
    tie_log_strength: float = 0.05
    """Bradley-Terry scores closer than this are a tie for the recommendation (about 1 % of win chance)."""
    tie_rating_points: float = 0.5
    """Mean ratings closer than this (points of 100) are a tie for the recommendation."""
    confident_p_best: float = 0.9
    """A recommendation whose probability of being the best reaches this is called confident."""
    watch_evaluations: int = 3
    """Overtraining watch: the objective metrics of this many newest checkpoints in a row did not
    beat the best before them (while the loss kept falling)."""
    watch_min_loss_drop: float = 0.01
    """Overtraining watch: the loss "keeps falling" when its robust trend fell by at least this share
    between the best checkpoint and the newest."""
    watch_loss_tags: tuple[str, ...] = ("loss/g/mel", "loss/g/total")
    """The loss the overtraining watch follows: the first of these tags the run logs."""


@dataclass(frozen=True)
class VoiceSettings(Record):
    """Voice consistency and recording quality of clips, and per-render metrics.

    Embeddings come from resemblyzer's GE2E speaker encoder, quality scores from DNSMOS
    (speechmos); both models are speech-trained, so their numbers are screens, not verdicts.
    """

    embed_voices: bool = True
    """Embed each clip and flag ``other_voice``; off skips resemblyzer (and torch) entirely."""
    score_quality: bool = False
    """Also score each clip with DNSMOS (a secondary, speech-trained figure; ``noisy`` comes from
    the noise floor). Off by default: about 0.2 s of one core per clip, which halves the audit's
    speed, and it reads clean sustained singing as noise."""
    measure_noise: bool = True
    """Measure each clip's noise floor, hiss and hum (``svcqa.dataset.noise``) and flag ``noisy``."""
    embed_max_s: float = 8.0
    """Seconds embedded per clip: its loudest 1.6 s blocks (one GE2E partial each), up to this much."""
    embed_min_s: float = 3.0
    """Clips shorter than this get no embedding (75 % of one 1.6 s partial, resemblyzer's own minimum)."""
    silence_dbfs: float = -50.0
    """A 1.6 s block whose RMS is below this level is not embedded; a clip whose loudest 20 ms frame
    is below it gets no DNSMOS score."""
    centroid_trim_share: float = 0.25
    """Share of clips least similar to the centroid left out of each trimmed-mean iteration."""
    centroid_iterations: int = 5
    other_voice_method: str = "mad"
    """``mad``: flag under ``median - other_voice_mad_k * spread`` or under ``other_voice_floor``;
    ``floor``: flag only under ``other_voice_floor``."""
    other_voice_mad_k: float = 4.0
    """Robust spreads (1.4826 x MAD of the similarities) below the median that make an outlier."""
    other_voice_min_spread: float = 0.02
    """Lower bound of the spread, so a very uniform dataset does not flag its ordinary variation."""
    other_voice_floor: float = 0.7
    """Cosine similarity to the dataset's voice under which a clip is always ``other_voice``."""
    other_voice_min_clips: int = 5
    """With fewer embedded clips there is no reliable centroid and nothing is flagged."""
    other_voice_min_s: float = 4.0
    """Clips shorter than this get a similarity but no ``other_voice`` verdict (as do noisy and
    mostly silent ones): too little voice to tell a singer by."""
    quality_windows: int = 1
    """DNSMOS windows (9.01 s each, evenly spaced) scored per clip; each costs about 0.2 s of one core."""
    quality_min_s: float = 2.0
    """Clips shorter than this get no DNSMOS score (the model would hear the clip looped)."""
    noisy_bak_threshold: float = 2.0
    """DNSMOS background score (1-5) under which DNSMOS calls a clip noisy (a secondary figure,
    shown next to the noise floor; it does not raise ``noisy``)."""
    noise_min_s: float = 1.0
    """Clips shorter than this get no noise figures (too few frames for a floor)."""
    noise_frame_s: float = 0.128
    """Frame of the noise spectrum (rounded to a power of two of samples at 16 kHz: 7.8 Hz bins)."""
    noise_percentile: float = 20.0
    """Per frequency, the noise is this percentile over time of the power (the pauses and the
    gaps between a note's harmonics), corrected for its bias on noise."""
    noise_smoothing_hz: float = 100.0
    """The floor is then the ``noise_smoothing_percentile``-th percentile over this many Hz on
    each side, which leaves out the harmonics of a note held through the whole clip."""
    noise_smoothing_percentile: float = 25.0
    noise_active_db: float = 20.0
    """The voice's level is the mean power of the frames within this many dB of the loudest."""
    hum_line_db: float = 10.0
    """A mains line (a multiple of 50 or 60 Hz) counts as hum when it stands this far above the floor."""
    hum_tolerance_cents: float = 10.0
    """A hum line lies within this of a multiple of the mains frequency; a held note rarely does."""
    hum_min_lines: int = 3
    """Hum needs at least this many of the first eight mains lines (a sung note shares one or two)."""
    noisy_floor_db: float = -15.0
    """A clip is ``noisy`` when its noise floor (hiss and hum) is above this level relative to the
    voice, i.e. a signal-to-noise ratio under about 15 dB."""
    high_range_share: float = 1 / 3
    """Render metrics: HNR is measured on notes in this top share of the singer's MIDI range."""
    min_high_note_s: float = 0.2
    """Render metrics: fewer seconds than this in that top share gives no HNR."""


@dataclass(frozen=True)
class ConversionSettings(Record):
    """How so-vits-svc-fork turns vocals into the model's voice: one setting for renders and covers.

    A render of a song and the cover's converted vocals made with the same checkpoint, pitch
    tracker, transpose and speaker are the same audio, so the checkpoint picked by ear in the blind
    test is the one the cover sings with. The slicing values are ``Svc.infer_silence``'s defaults
    in so-vits-svc-fork 4.2.30 (its Python API); its ``svc infer`` command line cuts at -20 dB
    instead, which silences the quiet sung passages of a dynamic vocal.
    """

    noise_scale: float = 0.4
    """Decoder noise (``svc infer``'s default); seeded with ``seed`` before every decode."""
    seed: int = 0
    silence_threshold_db: int = -40
    """Audio this far under its loudest part (dB) is a pause: it is not converted and stays silent."""
    absolute_threshold: bool = False
    """Measure ``silence_threshold_db`` against full scale instead of the loudest part."""
    pad_s: float = 0.5
    """Silence added around each sung chunk before converting it (then cut off again)."""
    chunk_s: float = 0.5
    """Longest analysis frame of the pause detection."""
    max_chunk_s: float = 40.0
    """Sung chunks longer than this are converted in pieces, so memory stays bounded."""
    device: str = "auto"
    """Torch device of renders and covers; "auto" is the GPU when there is one, else the CPU."""
    cpu_threads: int = 0
    """Torch threads while converting on the CPU; 0: half the cores (at least one), leaving the rest
    to training and the dashboard. Outside the hashes, but the thread count changes the last bits
    of the audio: renders and covers made with the same one are bit-identical."""


@dataclass(frozen=True)
class LoudnessSettings(Record):
    """How a loudness target is met under a true-peak ceiling: renders and the cover's mix alike."""

    tolerance_lu: float = 0.05
    """A result within this many LU of its loudness target has reached it."""
    max_iterations: int = 8
    """Gain/limit rounds tried to reach the target."""
    limiter_window_ms: float = 5.0
    """Look-ahead and attack/release ramp of the true-peak limiter."""
    oversample_factor: int = 4
    """True peak is measured and limited on the signal upsampled by this factor."""
    ceiling_margin_db: float = 0.05
    """The limiter aims this far under the ceiling, so re-quantisation cannot cross it."""


@dataclass(frozen=True)
class RenderSettings(Record):
    """Test-song renders through every checkpoint.

    The fields from ``f0_method`` to ``peak_ceiling_dbtp`` change the rendered audio and are part
    of every render's settings hash, with the :class:`ConversionSettings` shared with the cover;
    the others decide what is rendered, when and where.
    """

    min_step: int = 10_000
    """Checkpoints registered at or past this step are rendered automatically."""
    f0_method: str = "auto"
    """so-vits-svc-fork's pitch tracker for the excerpt; "auto" picks the most accurate one installed."""
    transpose_semitones: int = 0
    speaker: str = ""
    """Speaker of the model's config that sings; empty: the one with the lowest id."""
    target_lufs: float = -23.0
    """Every render of an excerpt is brought to this integrated loudness."""
    peak_ceiling_dbtp: float = -1.0
    """A true-peak limiter keeps renders under this level after the loudness gain."""
    excerpt_s: float = 25.0
    """Length of the suggested excerpts, moved within ``excerpt_min_s``-``excerpt_max_s`` to start and
    end in a pause."""
    excerpt_min_s: float = 20.0
    excerpt_max_s: float = 30.0
    sustain_min_s: float = 0.3
    """A note counts as sustained when its pitch stays within a semitone this long."""
    shortest_excerpt_s: float = 1.0
    longest_excerpt_s: float = 60.0
    """Limits of an excerpt the user picks by hand."""
    only_while_training_stopped: bool = False
    """The render worker waits while a training job runs, so training keeps the GPU to itself."""
    poll_s: float = 5.0
    """How often the render worker looks for new checkpoints and excerpts."""
    refresh_s: float = 2.0
    """How often the Renders page's live queue refreshes."""
    measure_metrics: bool = True
    """After each batch, compute the objective metrics of new renders (cached per render)."""
    devices: int = 1
    """Render processes, one per device, sharing the checkpoints: with CUDA the GPUs 0 to N-1,
    else N CPU processes (each with ``ConversionSettings.cpu_threads`` threads)."""


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
    cover: CoverSettings = field(default_factory=CoverSettings)
    listen: ListenSettings = field(default_factory=ListenSettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    uploads: UploadSettings = field(default_factory=UploadSettings)
    conversion: ConversionSettings = field(default_factory=ConversionSettings)
    loudness: LoudnessSettings = field(default_factory=LoudnessSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    server: ServerSettings = field(default_factory=ServerSettings)

    def with_section(self, section: str, **changes: Any) -> Settings:
        """Return a copy with fields of one section changed."""
        current = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **changes)})

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return a JSON-ready dict, one key per section (the format of ``settings.json``)."""
        return {f.name: getattr(self, f.name).to_dict() for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Build settings from a dict; unknown sections and keys are ignored, missing ones default.

        A field saved in the section it had before it moved (:data:`MOVED_FIELDS`) still applies.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"settings must be a JSON object, not {type(data).__name__}")
        sections = {name: dict(value) for name, value in data.items() if isinstance(value, Mapping)}
        for (section, key), old_section in MOVED_FIELDS.items():
            older = sections.get(old_section) or {}
            if key in older and key not in (sections.get(section) or {}):
                sections[section] = {**(sections.get(section) or {}), key: older[key]}
        return from_dict(cls, sections)

    def section_hash(self, section: str) -> str:
        """Return a short stable hash of one section (part of cache keys)."""
        return json_hash(getattr(self, section).to_dict(), chars=16)


MOVED_FIELDS: dict[tuple[str, str], str] = {
    ("uploads", "max_song_bytes"): "render",
    ("conversion", "noise_scale"): "render",
    ("conversion", "seed"): "render",
    ("conversion", "device"): "render",
    ("conversion", "cpu_threads"): "render",
}
"""(section, field) -> the section settings files written before the field moved keep it in."""


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
    """Write settings atomically (see :func:`svcqa.core.files.atomic_path`): a failed write keeps
    the old file.

    Raises :class:`WorkspaceError` when the file cannot be written (a full disk, no permission).
    """
    try:
        atomic_write_json(path, settings.to_dict())
    except WorkspaceError as exc:
        reason = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        raise WorkspaceError(
            f"Cannot save the settings to {path}: {getattr(reason, 'strerror', None) or reason}. Free disk "
            "space and try again; the settings saved before are unchanged."
        ) from exc
