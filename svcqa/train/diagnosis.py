"""Why a training run failed or misbehaves, from its log and process state, in plain words.

Each :class:`Diagnosis` says what happened, why, and what to do. The known failures are a
table, :data:`RULES`: one :class:`Rule` per code, saying when it applies (the log line or process
fact that shows it) and the words to show. :func:`diagnose` is pure: it applies every rule to the
log text, the job record and the latest losses it is given, so it is tested with injected log
lines; :func:`read_log` gives it the head and tail of a long log.

Example
-------
>>> found = diagnose("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
>>> found[0].code
'cuda_oom'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from svcqa.core.jobs import Job

PRETRAINED_URL = "https://huggingface.co/therealvul/so-vits-svc-4.0-init"
_LAST_LINES = 15
_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|HIP out of memory")
_NAN = re.compile(
    r"NaN or Inf found|Detected NaN|loss[^\n]{0,80}\bnan\b|\bnan\b[^\n]{0,40}loss", re.IGNORECASE
)
_DOWNLOAD_FAILED = re.compile(r"Failed to download[^\n]*(?:[GD]_0\.pth|so-vits-svc-4\.0-init)")
_FROM_SCRATCH = re.compile(r"No checkpoint found\. Start from scratch")
_CONTENTVEC = re.compile(r"content-vec-best|lengyue233")
_OFFLINE = re.compile(
    r"LocalEntryNotFoundError|offline mode|couldn't connect|Cannot reach|OSError: We couldn't|HF_HUB_OFFLINE",
    re.IGNORECASE,
)
_NOT_PREPROCESSED = re.compile(
    r"(?:FileNotFoundError|No such file or directory)[^\n]*"
    r"(?:filelists|configs/44k|config\.json|\.data\.pt|dataset/44k|\.spec\.pt)"
)
_RANK_DIED = re.compile(r"Child process with PID \d+ terminated with code|svcqa: rank \d+: rank 0 has gone")
_SIGNALS = {
    2: "SIGINT (interrupted)",
    9: "SIGKILL (killed)",
    15: "SIGTERM (terminated)",
    6: "SIGABRT (aborted)",
    11: "SIGSEGV (crashed)",
}


@dataclass(frozen=True)
class Diagnosis:
    """One finding: a stable code, how bad it is, what happened, why, and the fix."""

    code: str
    severity: str
    """``error`` (the run failed or is wasting time) or ``warning`` (it runs, but look)."""
    title: str
    explanation: str
    fix: str
    evidence: str
    """The log line(s) or process facts that led to it."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def read_log(path: Path, head_bytes: int = 65_536, tail_bytes: int = 262_144) -> str:
    """Return the log at ``path``: whole when small, else its head and tail (start-up errors
    and the end both matter); "" when there is no log."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            if size <= head_bytes + tail_bytes:
                data = f.read()
            else:
                data = f.read(head_bytes) + b"\n...\n"
                f.seek(size - tail_bytes)
                data += f.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


@dataclass(frozen=True)
class RunFacts:
    """What :func:`diagnose` reads: a run's log and what else is known about the run."""

    log_text: str
    job: Job | None = None
    losses: Mapping[str, float | None] | None = None
    resumed_from_step: int | None = None
    batch_size: int | None = None
    count_long_clips: Callable[[], int] | None = None
    max_clip_s: float = 25.0

    def first_line(self, pattern: re.Pattern[str]) -> str | None:
        """Return the first log line ``pattern`` matches, None when it matches none."""
        return _first_line(pattern, self.log_text) or None

    def mentions(self, pattern: re.Pattern[str]) -> bool:
        """Return whether ``pattern`` matches anywhere in the log."""
        return pattern.search(self.log_text) is not None


@dataclass(frozen=True)
class Rule:
    """One known way a run goes wrong: when it applies, and what to tell the user.

    ``evidence`` returns the log line(s) or process facts that show it, None when the rule does
    not apply. ``explanation`` and ``fix`` are format strings filled with what ``details``
    returns, asked only when the rule applies.
    """

    code: str
    severity: str
    title: str
    explanation: str
    fix: str
    evidence: Callable[[RunFacts], str | None]
    details: Callable[[RunFacts], dict[str, Any]] | None = None

    def apply(self, facts: RunFacts) -> Diagnosis | None:
        """Return the rule's finding for ``facts``, None when it does not apply."""
        evidence = self.evidence(facts)
        if evidence is None:
            return None
        values = self.details(facts) if self.details else {}
        return Diagnosis(
            self.code,
            self.severity,
            self.title,
            self.explanation.format(**values),
            self.fix.format(**values),
            evidence,
        )


def _oom_details(facts: RunFacts) -> dict[str, Any]:
    long_clips = facts.count_long_clips() if facts.count_long_clips else 0
    batch_size = facts.batch_size
    limit = f"{facts.max_clip_s:g}"
    return {
        "smaller": f"to {max(batch_size // 2, 1)} " if batch_size and batch_size > 1 else "",
        "clips": (
            f" {long_clips} training clip(s) are over {limit} s: slice them on the Prepare "
            "page, then preprocess again."
            if long_clips
            else f" Long clips need much memory too: keep every clip under {limit} s."
        ),
    }


def _died_evidence(facts: RunFacts) -> str | None:
    if facts.job is None or facts.job.state != "failed":
        return None
    return "\n".join(line for line in facts.log_text.rstrip().splitlines()[-_LAST_LINES:])


def _died_details(facts: RunFacts) -> dict[str, Any]:
    code = facts.job.exit_code if facts.job else None
    if code is None:
        how = "vanished without recording an exit code (the machine rebooted, or it was killed hard)"
    elif code < 0:
        how = f"was killed by signal {_SIGNALS.get(-code, -code)}"
    else:
        how = f"exited with code {code}"
    hint = " A kill without a stop request is often the system running out of RAM." if code == -9 else ""
    return {"how": how, "hint": hint}


RULES: tuple[Rule, ...] = (
    Rule(
        "cuda_oom",
        "error",
        "The GPU ran out of memory",
        "A batch did not fit into the GPU's memory. Memory grows with the batch size and "
        "with the longest clips in it.",
        "Lower the batch size {smaller}on the Train page (or choose 16-mixed/bf16-mixed "
        "precision), then Resume.{clips}",
        lambda f: f.first_line(_OOM),
        _oom_details,
    ),
    Rule(
        "nan_loss",
        "error",
        "The loss became NaN (not a number)",
        "Training diverged: once a loss is NaN the weights are ruined and every later "
        "checkpoint is useless. Mixed precision (fp16) overflowing is the usual cause; "
        "clipped or silent clips and too high a learning rate are others.",
        "Stop, delete the checkpoints written after the loss went NaN (see the curves), "
        "set precision to 32 and resume from the last good checkpoint. If it happens "
        "again, check the dataset for clipped or silent clips.",
        lambda f: f.first_line(_NAN) or _nan_losses(f.losses) or None,
    ),
    Rule(
        "pretrained_missing",
        "warning",
        "Training started from random weights",
        "so-vits-svc-fork could not download the pretrained G_0.pth and D_0.pth (no "
        "internet?) and went on from scratch. It still learns, but needs many more steps "
        "for the same quality.",
        f"Download G_0.pth and D_0.pth from {PRETRAINED_URL} into logs/44k before the "
        "first start (move the checkpoints of this run away to start again).",
        lambda f: f.first_line(_DOWNLOAD_FAILED) if f.mentions(_FROM_SCRATCH) else None,
    ),
    Rule(
        "restarted_from_scratch",
        "error",
        "Resume started from scratch",
        "Generator checkpoints up to step {resumed_from_step} existed, but so-vits-svc-fork "
        "found no discriminator (D_*.pth) to pair with them and silently started again.",
        "Stop, put back the D_<step>.pth that belongs to the newest G_<step>.pth in logs/44k, then Resume.",
        # A failed download explains a start from scratch better (pretrained_missing).
        lambda f: (
            f.first_line(_FROM_SCRATCH) if f.resumed_from_step and not f.mentions(_DOWNLOAD_FAILED) else None
        ),
        lambda f: {"resumed_from_step": f.resumed_from_step},
    ),
    Rule(
        "contentvec_missing",
        "error",
        "ContentVec is missing and cannot be downloaded",
        "so-vits-svc-fork needs the ContentVec model (lengyue233/content-vec-best) to "
        "extract features, and this machine is offline or cannot reach Hugging Face.",
        "On a machine with internet run `hf download lengyue233/content-vec-best` and copy "
        "the Hugging Face cache folder here, or unset HF_HUB_OFFLINE; then run the step again.",
        lambda f: f.first_line(_CONTENTVEC) if f.mentions(_OFFLINE) else None,
    ),
    Rule(
        "not_preprocessed",
        "error",
        "The dataset is not preprocessed",
        "Training reads dataset/44k, the file lists and configs/44k/config.json, which "
        "preprocessing writes; a file it needs is missing.",
        "Run preprocessing again (pre-resample, pre-config, pre-hubert) after the last "
        "change to dataset_raw, then start training.",
        lambda f: f.first_line(_NOT_PREPROCESSED),
    ),
    Rule(
        "rank_died",
        "error",
        "One of the training processes died",
        "The run trained in several processes (Lightning DDP, one per device), which must all go "
        "on together: when one dies, the others end too, without a save.",
        "Read the log for the first error (the dying process's); fix it, then Resume: training "
        "continues from the newest checkpoint. With one device fewer the run may fit.",
        lambda f: f.first_line(_RANK_DIED),
    ),
    Rule(
        "process_died",
        "error",
        "The training process died",
        "The training process {how}.{hint} Its last log lines are below.",
        "Read the last lines for the error; fix it, then Resume: training continues from the "
        "newest checkpoint.",
        _died_evidence,
        _died_details,
    ),
)
"""Every known failure, most specific first; each code is stable (``train status --json``)."""


def diagnose(
    log_text: str,
    job: Job | None = None,
    *,
    losses: Mapping[str, float | None] | None = None,
    resumed_from_step: int | None = None,
    batch_size: int | None = None,
    count_long_clips: Callable[[], int] | None = None,
    max_clip_s: float = 25.0,
) -> list[Diagnosis]:
    """Return what went wrong in a run, most specific first ([] when nothing did): every rule of
    :data:`RULES` that applies.

    Parameters
    ----------
    log_text : str
        The job's log (see :func:`read_log`).
    job : Job, optional
        The job record; a failed job always gets a ``process_died`` finding with its exit code.
    losses : mapping, optional
        The latest logged values (None stands for NaN or infinity).
    resumed_from_step : int, optional
        The newest checkpoint's step when the run started, if any.
    batch_size : int, optional
        The run's batch size, to suggest a smaller one after running out of memory.
    count_long_clips : callable, optional
        Returns how many training clips are longer than ``max_clip_s``; asked only after an
        out-of-memory error.
    """
    facts = RunFacts(log_text, job, losses, resumed_from_step, batch_size, count_long_clips, max_clip_s)
    return [found for rule in RULES if (found := rule.apply(facts)) is not None]


def _first_line(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    if not match:
        return ""
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    return text[start : end if end >= 0 else len(text)].strip()


def _nan_losses(losses: Mapping[str, float | None] | None) -> str:
    bad = sorted(key for key, value in (losses or {}).items() if key.startswith("loss") and value is None)
    return f"latest values: {', '.join(f'{key} = nan' for key in bad)}" if bad else ""
