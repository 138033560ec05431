"""A workspace ready for the blind test, built without rendering: real files, rows written directly.

Each checkpoint is a real (small) so-vits-svc-shaped ``G_<step>.pth`` with an optimizer state,
registered like training registers it. Each of its renders is a WAV file at
``renders/<excerpt>/<settings hash>/<render id>.wav`` plus a row in the ``renders`` table, as
:mod:`svcqa.listen.render` writes them; the audio is a tone whose pitch tells the checkpoint, so a
simulated listener hears which checkpoint played from the audio alone. Rendering for real needs
the tiny trained model (minutes); the listening test only needs files and rows.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from svcqa.core.store import Store
from svcqa.core.workspace import Workspace
from svcqa.listen.pairs import Pair
from svcqa.listen.render import render_id
from svcqa.train import checkpoints

SR = 16_000
BASE_HZ = 300.0
SPACING_HZ = 100.0
STEPS = (13_579, 24_681, 35_791)
"""Odd steps, so a step found in a page's text cannot be a coincidental count."""
QUALITY = {13_579: -1.0, 24_681: 1.0, 35_791: 0.0}
"""True quality per step: peaks in the middle."""
EXCERPTS = ("verse0000excerpt", "chorus000excerpt")
SETTINGS_HASH = "a1b2c3d4e5f60718"


@dataclass(frozen=True)
class ListenWorkspace:
    """The workspace and what identifies each checkpoint (what must never reach a page before reveal)."""

    ws: Workspace
    sha_by_step: dict[int, str]
    render_ids: tuple[str, ...]

    def identifying_strings(self) -> set[str]:
        """Return every string that would tell a listener which checkpoint is playing."""
        found = set(self.render_ids) | {f"{r}.wav" for r in self.render_ids}
        for step, sha in self.sha_by_step.items():
            found |= {sha, sha[:12], f"G_{step}", str(step), f"{step:,}"}
        return found


def _tone(step_index: int, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return 0.2 * np.sin(2 * np.pi * (BASE_HZ + SPACING_HZ * step_index) * t)


def write_checkpoint(path: Path, step: int) -> None:
    """Write a so-vits-svc-fork-shaped training checkpoint with an AdamW state (three times the weights)."""
    import torch

    torch.manual_seed(step)
    net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Linear(128, 64))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    net(torch.randn(2, 64)).square().mean().backward()
    optimizer.step()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": net.state_dict(),
            "iteration": step,
            "optimizer": optimizer.state_dict(),
            "learning_rate": 1e-4,
        },
        path,
    )


def insert_render(
    ws: Workspace,
    sha256: str,
    step: int,
    excerpt_id: str,
    settings_hash: str,
    samples: np.ndarray | None,
    *,
    silent: bool = False,
    error: str | None = None,
    rendered_at: str | None = None,
) -> str:
    """Write a render's file (unless ``samples`` is None) and its row; return the render id."""
    rid = render_id(sha256, excerpt_id, settings_hash)
    rel = f"renders/{excerpt_id}/{settings_hash}/{rid}.wav"
    if samples is not None:
        (ws.root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(ws.root / rel, samples, SR, subtype="PCM_16")
    with Store(ws.db_path).connect() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO renders (id, checkpoint_sha256, checkpoint_step, excerpt_id, settings_hash, "
            "settings, path, lufs, gain_db, silent, message, error, load_s, decode_s, device, rendered_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rid,
                sha256,
                step,
                excerpt_id,
                settings_hash,
                json.dumps({"transpose_semitones": 0}),
                None if error else rel,
                None if silent or error else -23.0,
                0.0,
                int(silent),
                "no sung note" if silent else "",
                error,
                0.1,
                0.2,
                "cpu",
                rendered_at or datetime.now(UTC).isoformat(timespec="microseconds"),
            ),
        )
    return rid


def make_listen_workspace(root: Path, steps: tuple[int, ...] = STEPS) -> ListenWorkspace:
    """Return a workspace with registered checkpoints of ``steps``, each rendered on two excerpts."""
    ws = Workspace(root).ensure_layout()
    (ws.logs_44k / "config.json").write_text(json.dumps({"spk": {"singer": 0}, "train": {"batch_size": 2}}))
    sha_by_step = {}
    ids = []
    for k, step in enumerate(steps):
        path = ws.logs_44k / f"G_{step}.pth"
        write_checkpoint(path, step)
        sha_by_step[step] = checkpoints.register(ws, path, settle_s=0.01).sha256
        for excerpt in EXCERPTS:
            ids.append(insert_render(ws, sha_by_step[step], step, excerpt, SETTINGS_HASH, _tone(k)))
    return ListenWorkspace(ws, sha_by_step, tuple(ids))


def heard_step(wav: bytes, steps: tuple[int, ...] = STEPS) -> int:
    """Return the step whose tone ``wav`` carries."""
    samples, rate_hz = sf.read(io.BytesIO(wav))
    peak_hz = np.argmax(np.abs(np.fft.rfft(samples))) * rate_hz / len(samples)
    return steps[round((peak_hz - BASE_HZ) / SPACING_HZ)]


def better_side(pair: Pair) -> str:
    """Answer like a listener who always hears the better render."""
    return "A" if QUALITY[heard_step(pair.audio_a)] > QUALITY[heard_step(pair.audio_b)] else "B"
