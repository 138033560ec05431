"""Dataset page review at a user's scale: the same steps on 120 and on 1,500 clips, in the browser.

Run: ``.venv/bin/python benchmarks/pages_at_scale.py`` (needs Debian chromium and playwright,
as ``make test`` installs them). Each workspace is audited by the CLI first; the steps are the
1,500-clip browser test's (``tests/scale_flow.py``): warm open, filter, search, tick a row until
it plays, N for the next flagged clip; then on the Prepare page: leave out a whole folder, show
the clips left out, filter the plan. The 120-clip workspace is the reference: the ratio says
what the dataset's size adds to each step on this machine, whatever its speed and load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svcqa.core.settings import Settings
from svcqa.core.workspace import Workspace
from tests.browser import REPO, chromium_page, running_server
from tests.scale_dataset import write_scale_dataset
from tests.scale_flow import prepare_steps, review_steps

SIZES = (120, 1500)


def measure(root: Path, clips: int) -> dict[str, float]:
    """Return the review steps' seconds on a fresh workspace of ``clips`` clips."""
    ws = Workspace(root)
    planted = write_scale_dataset(ws.recordings / "singer", clips)
    ws.save_settings(Settings().with_section("voice", score_quality=False))
    subprocess.run(
        [sys.executable, "-m", "svcqa", "audit", str(ws.recordings), "--workspace", str(ws.root)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        check=True,
    )
    with running_server(ws.root) as url, chromium_page() as page:
        return {**review_steps(page, url, clips, planted["too_short"]), **prepare_steps(page, url, clips)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()[0]
        figures = {clips: measure(Path(tmp) / f"ws{clips}", clips) for clips in SIZES}
        load_after = os.getloadavg()[0]
    small, large = figures[SIZES[0]], figures[SIZES[1]]
    print(f"load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores")
    print(f"{'step':<20}{SIZES[0]:>10,} clips{SIZES[1]:>10,} clips{'ratio':>8}")
    for step in large:
        print(f"{step:<20}{small[step]:>14.2f} s{large[step]:>14.2f} s{large[step] / small[step]:>8.2f}")


if __name__ == "__main__":
    main()
