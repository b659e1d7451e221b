"""The report in a real browser: Debian's headless Chromium, driven by Playwright's Python
client (Playwright's own browser download is not used). The report tests open pages with
:func:`open_page`; run as a script, it regenerates README's picture of the report:

    .venv/bin/python -m tests.screenshot        # writes docs/images/report.png

from the committed example result, re-rendered with the current template (CI runs it
through tests/test_docs.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
EXAMPLE = ROOT / "reports" / "examples" / "smollm2-attn-drop-25" / "result.json"
PICTURE = ROOT / "docs" / "images" / "report.png"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need_chromium() -> None:
    """Skip the calling test where Chromium is missing; in CI that is a failure."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run); no silent skip.")
        pytest.skip("Debian chromium is not installed here")


@contextlib.contextmanager
def open_page(width: int = 1000, height: int = 900) -> Iterator[Any]:
    """A fresh Chromium page of ``width`` x ``height`` pixels."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def screenshot(out: Path = PICTURE, result: Path = EXAMPLE) -> Path:
    """The first screen of ``result``'s report, rendered now, as a PNG at ``out``."""
    from advisor.report import render

    html = render(json.loads(result.read_text(encoding="utf-8")))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        page_file = Path(scratch) / "report.html"
        page_file.write_text(html, encoding="utf-8")
        with open_page() as page:
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=str(out))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PICTURE, help="where to write the PNG")
    print(screenshot(parser.parse_args().out))
