"""The report pages in a real browser: headless Chromium (Debian's `chromium` package; `make test`
installs it). No console message (a blocked script or fetch would log one), the content is
there after rendering, it prints on A4, and screenshots are kept in .local/test-artifacts."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from pipeline_helpers import REPORT_RUN_DAYS
from project_files import REPO

ARTIFACTS = REPO / ".local" / "test-artifacts"
A4_POINTS = (595.28, 841.89)


def chromium(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("headless Chromium is needed for this test: install Debian's `chromium` package "
                    "(`make chromium` does, with apt-get; `make test` runs it first)")
    profile = tmp_path / "chromium-profile"
    # Without the background-networking flags Chromium calls out at start; this machine has no network.
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def console_messages(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def newest_report(sample_reports):
    _, reports, _ = sample_reports
    return reports / f"discrepancy_{REPORT_RUN_DAYS[-1]}.html", reports / "index.html"


def test_report_renders_without_console_errors_and_screenshots_are_kept(newest_report, tmp_path):
    report, _ = newest_report
    dom = chromium(tmp_path, report.as_uri(), "--dump-dom")
    assert console_messages(dom) == []
    assert re.search(rf"<h1>Report of the run for <span[^>]*>{REPORT_RUN_DAYS[-1]}", dom.stdout)
    assert dom.stdout.count("<svg") == 3 and 'id="by-source"' in dom.stdout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, size in (("report-laptop.png", "1280,4000"), ("report-phone.png", "390,6000")):
        shot = chromium(tmp_path, report.as_uri(), f"--window-size={size}", f"--screenshot={ARTIFACTS / name}")
        assert console_messages(shot) == []
        width, height = png_size(ARTIFACTS / name)
        assert (width, height) == tuple(int(v) for v in size.split(","))
        assert (ARTIFACTS / name).stat().st_size > 20_000  # a blank page compresses to far less


def test_report_prints_on_a4(newest_report, tmp_path):
    report, _ = newest_report
    pdf = ARTIFACTS / "report.pdf"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chromium(tmp_path, report.as_uri(), "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes()
    boxes = {tuple(float(v) for v in m.split()[2:]) for m in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", data)}
    assert boxes and all(w == pytest.approx(A4_POINTS[0], abs=1) and h == pytest.approx(A4_POINTS[1], abs=1)
                         for w, h in boxes)
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2


def test_index_renders_without_console_errors(newest_report, tmp_path):
    _, index = newest_report
    dom = chromium(tmp_path, index.as_uri(), "--dump-dom")
    assert console_messages(dom) == []
    assert dom.stdout.count("<tr") == len(REPORT_RUN_DAYS) + 1
    chromium(tmp_path, index.as_uri(), "--window-size=1100,700", f"--screenshot={ARTIFACTS / 'index.png'}")
    assert png_size(ARTIFACTS / "index.png") == (1100, 700)


def test_the_console_check_sees_a_script_the_policy_blocks(tmp_path):
    """The check above can fail: the report's own policy blocks and reports an injected script."""
    from adjust_amplitude.report.page import CSP

    page = tmp_path / "injected.html"
    page.write_text(f'<!doctype html><meta http-equiv="Content-Security-Policy" content="{CSP}">'
                    "<p>x</p><script>document.title = 'ran'</script>")
    done = chromium(tmp_path, page.as_uri(), "--dump-dom")
    assert any("Content Security Policy" in line for line in console_messages(done))
    assert "<title>ran</title>" not in done.stdout
