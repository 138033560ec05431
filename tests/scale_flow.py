"""The review steps of the Dataset page in the browser, timed: shared by the 1,500-clip browser
test and ``benchmarks/pages_at_scale.py``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
_USED = re.compile(r"clips shown; ([\d,]+) used")
PLAYING = "() => { const a = document.querySelector('audio'); return a && a.src && !a.paused }"


def timed(page: Any, action: Callable[[], object], *texts: str) -> float:
    """Return the seconds from ``action`` until every text in ``texts`` shows and the page is idle."""
    start = time.perf_counter()
    action()
    for text in texts:
        page.get_by_text(text).first.wait_for(timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)
    return time.perf_counter() - start


def review_steps(page: Any, url: str, clips: int, too_short: list[str]) -> dict[str, float]:
    """Open the Dataset page twice, filter by ``too_short``, search one clip, tick its row until it
    plays, then press N for the next flagged clip; return the seconds of each step.

    ``too_short`` lists the paths (relative to the speaker folder ``singer/``) of the dataset's
    too-short clips, at least three.
    """
    figures: dict[str, float] = {}
    all_shown = f"{clips:,} of {clips:,} clips shown"
    figures["first_open_s"] = timed(page, lambda: page.goto(url, wait_until="domcontentloaded"), all_shown)
    figures["warm_open_s"] = timed(page, lambda: page.reload(wait_until="domcontentloaded"), all_shown)
    page.wait_for_selector('[data-testid="stDataFrame"] canvas', timeout=30_000)

    def pick_flag() -> None:
        page.locator('[data-testid="stMultiSelect"]').first.click()
        page.keyboard.type("too_short")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")

    n_short = len(too_short)
    figures["filter_s"] = timed(page, pick_flag, f"{n_short} of {clips:,} clips shown")
    search = page.get_by_label("Search file names")
    figures["search_s"] = timed(
        page,
        lambda: (search.fill(Path(too_short[1]).stem), search.press("Enter")),
        f"1 of {clips:,} clips shown",
    )
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    start = time.perf_counter()
    page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 17)  # the first row's tick box
    page.wait_for_function(PLAYING, timeout=60_000)
    figures["tick_to_playing_s"] = time.perf_counter() - start
    page.wait_for_selector(IDLE, timeout=60_000)
    assert f"singer/{too_short[1]}" in page.inner_text("body")
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 1  # the clip's waveform
    timed(page, lambda: (search.fill(""), search.press("Enter")), f"{n_short} of {clips:,} clips shown")
    page.evaluate("document.activeElement.blur()")  # leave the search box: keys go to the page
    figures["next_flagged_s"] = timed(
        page, lambda: page.keyboard.press("n"), f"(flagged clip 3 of {n_short})"
    )
    assert f"singer/{too_short[2]}" in page.inner_text("body")
    return figures


def prepare_steps(page: Any, url: str, clips: int) -> dict[str, float]:
    """Open the Prepare page, leave out the whole ``session_b`` folder, show only the clips left
    out, then the plan's files left out; return the seconds of each step.

    The dataset is :func:`tests.scale_dataset.write_scale_dataset`'s: half its clips in
    ``session_b/``.
    """
    figures: dict[str, float] = {}
    half = clips // 2
    figures["prepare_open_s"] = timed(
        page, lambda: page.goto(f"{url}/prepare", wait_until="domcontentloaded"), "Clips to write"
    )

    def pick_folder() -> None:
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Every clip in the folder").first.click()
        page.keyboard.type("session_b")
        page.keyboard.press("Enter")

    figures["prepare_pick_folder_s"] = timed(page, pick_folder, f"Leave out {half}")
    before = _used(page)
    start = time.perf_counter()
    page.get_by_role("button", name=f"Leave out {half}").click()
    deadline = start + 120
    while (used := _used(page)) in (before, None) and time.perf_counter() < deadline:
        time.sleep(0.02)
    page.wait_for_selector(IDLE, timeout=120_000)
    figures["prepare_leave_out_folder_s"] = time.perf_counter() - start
    assert used is not None and used <= clips - half, (before, used)
    left_out = clips - used

    def show_left_out() -> None:
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Show in the table").first.click()
        page.keyboard.type("left out")
        page.keyboard.press("Enter")

    figures["prepare_filter_s"] = timed(page, show_left_out, f"{left_out:,} of {clips:,} clips shown")
    figures["prepare_plan_filter_s"] = timed(
        page,
        lambda: page.get_by_text(f"left out ({left_out:,})").first.click(),
        f"{left_out:,} of {clips:,} source files shown",
    )
    return figures


def _used(page: Any) -> int | None:
    """Return the Prepare page's count of clips used, from its table caption ("n of N clips shown; U used.")."""
    found = _USED.search(page.inner_text("body"))
    return int(found.group(1).replace(",", "")) if found else None
