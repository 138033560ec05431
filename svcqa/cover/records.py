"""What a cover run is asked to make and what it made: the request, each stage's record and outcome.

Example
-------
>>> import json
>>> r = CoverRequest("songs/a.wav", "ab" * 32, rerun="mix")
>>> CoverRequest.from_dict(json.loads(json.dumps(r.to_dict()))) == r
True
>>> r.stages
('vocals', 'dereverb', 'karaoke', 'convert', 'mix')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svcqa.core.records import Record
from svcqa.core.settings import (
    ConversionSettings,
    CoverSettings,
    LoudnessSettings,
    MixSettings,
    SeparationSettings,
)
from svcqa.cover.mixing import MIX_FORMATS
from svcqa.engines.separation_models import STAGES as SEPARATION_STAGES

__all__ = [
    "EXPORT_FORMATS",
    "REMOVED_LABELS",
    "SEPARATION_STAGES",
    "STAGES",
    "STAGE_LABELS",
    "CoverRequest",
    "CoverResult",
    "StageOutcome",
    "StageRecord",
]

STAGES: tuple[str, ...] = (*SEPARATION_STAGES, "convert", "mix")
STAGE_LABELS: dict[str, str] = {
    "vocals": "Vocals / instrumental",
    "dereverb": "De-reverb / de-echo",
    "karaoke": "Remove backing vocals",
    "convert": "Convert",
    "mix": "Mix",
}
REMOVED_LABELS: dict[str, str] = {"vocals": "instrumental", "dereverb": "reverb", "karaoke": "backing vocals"}
"""What each separation stage takes out (its second file)."""
EXPORT_FORMATS: tuple[str, ...] = tuple(suffix.lstrip(".") for suffix in MIX_FORMATS)


@dataclass(frozen=True)
class CoverRequest(Record):
    """What to make: the song, the checkpoint (its sha256) and every stage's settings.

    ``separation.stages`` picks the separation stages; ``rerun`` names one stage to run again
    even when cached, after which the run stops (later stages stay as they were).
    ``conversion`` and ``loudness`` None take the workspace's sections, the ones renders use.
    """

    song: str
    checkpoint: str
    separation: SeparationSettings = field(default_factory=SeparationSettings)
    mix: MixSettings = field(default_factory=MixSettings)
    cover: CoverSettings = field(default_factory=CoverSettings)
    conversion: ConversionSettings | None = None
    loudness: LoudnessSettings | None = None
    rerun: str | None = None

    @property
    def stages(self) -> tuple[str, ...]:
        """Return the stages this request runs, in pipeline order."""
        return (*(s for s in SEPARATION_STAGES if s in self.separation.stages), "convert", "mix")


@dataclass(frozen=True)
class StageRecord(Record):
    """What one stage made from which inputs, stored as ``<stage>-<key>.json``.

    ``output`` (handed on) and ``removed`` (what a separation stage took out) are file names in
    the song's cover folder; ``inputs`` maps each input to its sha256; ``state`` is ``done`` or
    ``failed`` (then ``error`` says why).
    """

    stage: str
    key: str
    state: str
    inputs: dict[str, str]
    settings: dict[str, Any]
    output: str | None = None
    removed: str | None = None
    output_digest: str | None = None
    removed_digest: str | None = None
    duration_s: float = 0.0
    finished_at: str = ""
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageOutcome(Record):
    """A stage's place in a plan or run.

    ``status``: ``cached`` (its output for these inputs exists), ``ran`` (made now), ``failed``
    (``record.error`` says why), ``pending`` (not run yet: its inputs are not made yet, or it is
    not cached). ``key`` is None while the inputs are unknown.
    """

    stage: str
    status: str
    key: str | None = None
    record: StageRecord | None = None


@dataclass(frozen=True)
class CoverResult:
    """Every stage's outcome for one song (a plan, or what a run did)."""

    song: str
    song_digest: str
    folder: str
    """The song's cover folder, where every stage's files are."""
    outcomes: tuple[StageOutcome, ...]

    def outcome(self, stage: str) -> StageOutcome | None:
        """Return the outcome of ``stage``, None when the request does not run it."""
        return next((o for o in self.outcomes if o.stage == stage), None)

    @property
    def failed(self) -> StageOutcome | None:
        """Return the failed stage, if any."""
        return next((o for o in self.outcomes if o.status == "failed"), None)

    @property
    def complete(self) -> bool:
        """Return True when every stage's output exists (cached or made now)."""
        return all(o.status in ("cached", "ran") for o in self.outcomes)

    def path(self, stage: str, which: str = "output") -> Path | None:
        """Return the ``output`` or ``removed`` file of a finished ``stage``, else None."""
        outcome = self.outcome(stage)
        if outcome is None or outcome.status not in ("cached", "ran") or outcome.record is None:
            return None
        name = getattr(outcome.record, which)
        return Path(self.folder) / name if name else None

    @property
    def cover(self) -> Path | None:
        """Return the mixed cover, when the mix is done."""
        return self.path("mix")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the ``cover`` command's ``--json`` output, with ``out``)."""
        cover = self.cover
        return {
            "song": self.song,
            "song_digest": self.song_digest,
            "folder": self.folder,
            "cover": str(cover) if cover else None,
            "complete": self.complete,
            "stages": [o.to_dict() for o in self.outcomes],
        }
