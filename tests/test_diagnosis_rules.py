"""The diagnosis table: stable codes, in the order findings are reported."""

from __future__ import annotations

from svcqa.core import jobs
from svcqa.train.diagnosis import RULES, diagnose

CODES = [
    "cuda_oom",
    "nan_loss",
    "pretrained_missing",
    "restarted_from_scratch",
    "contentvec_missing",
    "not_preprocessed",
    "rank_died",
    "process_died",
]


def _failed_job() -> jobs.Job:
    return jobs.Job(
        id="train-x",
        kind="train",
        argv=("python",),
        cwd=".",
        pid=1,
        pid_start_time=0.0,
        started_at="2026-01-01T00:00:00+00:00",
        state="failed",
        exit_code=-9,
        ended_at="2026-01-01T00:01:00+00:00",
    )


def test_rules_hold_each_stable_code_once_most_specific_first() -> None:
    assert [rule.code for rule in RULES] == CODES
    assert {rule.severity for rule in RULES} == {"error", "warning"}


def test_a_log_showing_every_failure_is_reported_in_table_order_with_filled_in_words() -> None:
    log = "\n".join(
        (
            "torch.OutOfMemoryError: CUDA out of memory.",
            "loss/g/total: nan",
            "WARNING No checkpoint found. Start from scratch.",
            "OSError: lengyue233/content-vec-best: LocalEntryNotFoundError: offline mode",
            "[rank: 1] Child process with PID 4242 terminated with code -9. Forcefully terminating all other processes",
            "FileNotFoundError: [Errno 2] No such file or directory: 'filelists/44k/train.txt'",
        )
    )

    found = diagnose(log, _failed_job(), resumed_from_step=800, batch_size=6)

    assert [d.code for d in found] == [c for c in CODES if c != "pretrained_missing"]
    by_code = {d.code: d for d in found}
    assert "Lower the batch size to 3 on the Train page" in by_code["cuda_oom"].fix
    assert "up to step 800 existed" in by_code["restarted_from_scratch"].explanation
    assert "killed by signal SIGKILL (killed)" in by_code["process_died"].explanation
    assert "PID 4242 terminated with code -9" in by_code["rank_died"].evidence
    assert by_code["process_died"].evidence.endswith("'filelists/44k/train.txt'")
    assert "{" not in "".join(d.explanation + d.fix for d in found)
