"""The discrepancy report of a run: an HTML page, the CSV of its rows, a JSON of its headline
(which the index is built from), and the folder's index.html."""

from __future__ import annotations

import codecs
import json
import logging
from pathlib import Path
from typing import Any

from adjust_amplitude.report.content import ReportContent
from adjust_amplitude.report.page import render_index, render_report
from adjust_amplitude.report.storage import copy_file, file_names, location, write_file

INDEX_NAME = "index.html"

log = logging.getLogger(__name__)


def write_report_files(root, content: ReportContent, rows_csv: Path) -> dict[str, str]:
    """Write the run's files into root (an ObjectStoragePath), then rebuild the index. `rows_csv`
    is the warehouse's export of the report's rows (select_report_rows): it goes in as it is, after
    a UTF-8 byte-order mark (Excel then reads accents right). Returns where each file is."""
    names = file_names(content.run_day)
    headline = {**content.headline(), "html": names["html"], "csv": names["csv"]}
    copy_file(rows_csv, root / names["csv"], prefix=codecs.BOM_UTF8)
    write_file(root / names["html"], render_report(content).encode("utf-8"))
    write_file(root / names["json"], json.dumps(headline, indent=2, sort_keys=True).encode("utf-8"))
    write_file(root / INDEX_NAME, render_index(read_headlines(root), content.window_hours).encode("utf-8"))
    return {kind: location(root / name) for kind, name in {**names, "index": INDEX_NAME}.items()}


def read_headlines(root) -> list[dict[str, Any]]:
    """Every report's headline in the folder. A file that is not a headline (edited or cut short
    by hand) is left out of the index with a warning rather than failing the run."""
    headlines = []
    for path in root.glob("discrepancy_*.json"):
        try:
            headline = json.loads(path.read_text(encoding="utf-8"))
            if {"run_day", "html", "csv"} <= set(headline):
                headlines.append(headline)
                continue
        except (ValueError, UnicodeDecodeError):
            pass
        log.warning("Left %s out of the report index: not a report headline", location(path))
    return headlines
