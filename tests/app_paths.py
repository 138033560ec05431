"""Where the app and its page scripts live, named once for every test that opens a page."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "streamlit_app.py")
PAGES_DIR = "app_pages"


def page(name: str) -> str:
    """Return the path ``AppTest.switch_page`` takes for page ``name``, e.g. ``page("cover")``."""
    return f"{PAGES_DIR}/{name}.py"
