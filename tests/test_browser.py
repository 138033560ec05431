"""The real app in headless Chromium: the run command's server comes up on the demo workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, SCREENSHOTS, chromium_page, running_server

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
    reason="Debian chromium is installed by `make test` (scripts/bootstrap.sh test)",
)


def test_serve_opens_on_the_demo_dataset_page(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    with running_server(workspace) as url, chromium_page() as page:
        page.goto(url, wait_until="networkidle")
        page.get_by_text("Clips with problems").wait_for(timeout=120_000)
        page.get_by_text("Show clips flagged").wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # let plotly draw before the screenshot
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "dataset.png"), full_page=True)
        text = page.inner_text("body")
    assert "Dataset" in text
    assert "Demo workspace" in text
    assert (workspace / "recordings" / "demo_singer" / "short_take.wav").exists()
    assert (SCREENSHOTS / "dataset.png").stat().st_size > 20_000


def test_public_mode_asks_for_the_password_on_every_page_url(tmp_path: Path) -> None:
    from svcqa.core.auth import set_password
    from svcqa.core.workspace import Workspace

    workspace = Workspace(tmp_path / "ws").ensure_layout()
    set_password(workspace.auth_path, "a long test password")
    with running_server(workspace.root, extra_args=("--public",)) as url, chromium_page() as page:
        for path in ("/", "/dataset", "/prepare", "/train", "/render", "/listen", "/cover", "/nonexistent"):
            page.goto(url + path, wait_until="networkidle")
            page.get_by_text("Password").first.wait_for(timeout=60_000)
            body = page.inner_text("body")
            assert "Clips with problems" not in body, path
            assert "Dataset" not in body and "Prepare" not in body, path
