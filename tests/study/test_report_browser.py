"""The study report opened in headless Chromium: it renders (a non-blank screenshot) and
every inlined image is a valid PNG."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_analysis import build_study

from medaug.study.report import write_report

MISSING = "headless Chromium not found: apt-get install chromium (Debian); .ci/run installs it"


def _chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("MEDAUG_REQUIRE_SERVICES") == "1":
        pytest.fail(MISSING)
    pytest.skip(MISSING)


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    folder = build_study(tmp_path / "s", extras=True)
    page = write_report(folder, n_boot=50)
    url = page.resolve().as_uri()
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *_flags(tmp_path / "profile"), f"--screenshot={shot}",
                    "--window-size=1400,5000", url], check=True, timeout=120,
                   capture_output=True)
    assert shot.is_file()
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (5000, 1400)
    assert pixels.std() > 5  # not blank
    dom = subprocess.run([chromium, *_flags(tmp_path / "profile2"), "--dump-dom", url],
                         check=True, timeout=120, capture_output=True, text=True).stdout
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)"', dom)
    assert len(uris) == page.read_text().count('<img src="data:image/png;base64,') > 5
    for data in uris:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "PNG" and min(image.size) > 50
        image.verify()
