"""The HTML report renders in headless Chromium with its embedded images."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from depth_ros.cli.main import main

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="/usr/bin/chromium is absent (apt-get install -y chromium)"
)
def test_report_screenshot(tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "eval"
    assert (
        main(
            ["eval", "--dataset", "motorcycle", "-", "--model", "sgbm", "-q", "--output", str(out)]
        )
        == 0
    )
    shot = tmp_path / "shot.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        f"file://{(out / 'report.html').resolve()}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert shot.is_file(), proc.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img is not None
    assert img.shape[:2] == (2000, 1200)
    assert shot.stat().st_size > 50_000  # text alone compresses far smaller
    # the embedded images were decoded: many distinct colours (turbo maps, photo, plots)
    colours = np.unique(img.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 2000
