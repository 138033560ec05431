"""Why a training run failed or misbehaves, from its log and process state, in plain words.

Each :class:`Diagnosis` says what happened, why, and what to do. :func:`diagnose` is pure: it
reads the log text, the job record and the latest losses it is given, so it is tested with
injected log lines; :func:`read_log` gives it the head and tail of a long log.

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
    """Return what went wrong in a run, most specific first ([] when nothing did).

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
    found: list[Diagnosis] = []
    oom = _first_line(_OOM, log_text)
    if oom:
        long_clips = count_long_clips() if count_long_clips else 0
        smaller = f"to {max(batch_size // 2, 1)} " if batch_size and batch_size > 1 else ""
        clips = (
            f" {long_clips} training clip(s) are over {max_clip_s:g} s: slice them on the Prepare "
            "page, then preprocess again."
            if long_clips
            else f" Long clips need much memory too: keep every clip under {max_clip_s:g} s."
        )
        found.append(
            Diagnosis(
                "cuda_oom",
                "error",
                "The GPU ran out of memory",
                "A batch did not fit into the GPU's memory. Memory grows with the batch size and "
                "with the longest clips in it.",
                f"Lower the batch size {smaller}on the Train page (or choose 16-mixed/bf16-mixed "
                f"precision), then Resume.{clips}",
                oom,
            )
        )
    nan = _first_line(_NAN, log_text) or _nan_losses(losses)
    if nan:
        found.append(
            Diagnosis(
                "nan_loss",
                "error",
                "The loss became NaN (not a number)",
                "Training diverged: once a loss is NaN the weights are ruined and every later "
                "checkpoint is useless. Mixed precision (fp16) overflowing is the usual cause; "
                "clipped or silent clips and too high a learning rate are others.",
                "Stop, delete the checkpoints written after the loss went NaN (see the curves), "
                "set precision to 32 and resume from the last good checkpoint. If it happens "
                "again, check the dataset for clipped or silent clips.",
                nan,
            )
        )
    download = _first_line(_DOWNLOAD_FAILED, log_text)
    if download and _FROM_SCRATCH.search(log_text):
        found.append(
            Diagnosis(
                "pretrained_missing",
                "warning",
                "Training started from random weights",
                "so-vits-svc-fork could not download the pretrained G_0.pth and D_0.pth (no "
                "internet?) and went on from scratch. It still learns, but needs many more steps "
                "for the same quality.",
                f"Download G_0.pth and D_0.pth from {PRETRAINED_URL} into logs/44k before the "
                "first start (move the checkpoints of this run away to start again).",
                download,
            )
        )
    elif _FROM_SCRATCH.search(log_text) and resumed_from_step:
        found.append(
            Diagnosis(
                "restarted_from_scratch",
                "error",
                "Resume started from scratch",
                f"Generator checkpoints up to step {resumed_from_step} existed, but so-vits-svc-fork "
                "found no discriminator (D_*.pth) to pair with them and silently started again.",
                "Stop, put back the D_<step>.pth that belongs to the newest G_<step>.pth in logs/44k, "
                "then Resume.",
                _first_line(_FROM_SCRATCH, log_text),
            )
        )
    contentvec = _first_line(_CONTENTVEC, log_text)
    if contentvec and _OFFLINE.search(log_text):
        found.append(
            Diagnosis(
                "contentvec_missing",
                "error",
                "ContentVec is missing and cannot be downloaded",
                "so-vits-svc-fork needs the ContentVec model (lengyue233/content-vec-best) to "
                "extract features, and this machine is offline or cannot reach Hugging Face.",
                "On a machine with internet run `hf download lengyue233/content-vec-best` and copy "
                "the Hugging Face cache folder here, or unset HF_HUB_OFFLINE; then run the step again.",
                contentvec,
            )
        )
    missing = _first_line(_NOT_PREPROCESSED, log_text)
    if missing:
        found.append(
            Diagnosis(
                "not_preprocessed",
                "error",
                "The dataset is not preprocessed",
                "Training reads dataset/44k, the file lists and configs/44k/config.json, which "
                "preprocessing writes; a file it needs is missing.",
                "Run preprocessing again (pre-resample, pre-config, pre-hubert) after the last "
                "change to dataset_raw, then start training.",
                missing,
            )
        )
    if job is not None and job.state == "failed":
        found.append(_died(job, log_text))
    return found


def _died(job: Job, log_text: str) -> Diagnosis:
    code = job.exit_code
    if code is None:
        how = "vanished without recording an exit code (the machine rebooted, or it was killed hard)"
    elif code < 0:
        how = f"was killed by signal {_SIGNALS.get(-code, -code)}"
    else:
        how = f"exited with code {code}"
    hint = " A kill without a stop request is often the system running out of RAM." if code == -9 else ""
    last = "\n".join(line for line in log_text.rstrip().splitlines()[-_LAST_LINES:])
    return Diagnosis(
        "process_died",
        "error",
        "The training process died",
        f"The training process {how}.{hint} Its last log lines are below.",
        "Read the last lines for the error; fix it, then Resume: training continues from the "
        "newest checkpoint.",
        last,
    )


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
