"""Where the project's files are, for tests that read them (the DAG folder, the docs' examples)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_asset_example() -> str:
    """The consumer DAG docs/report-and-alerts.md shows under "Reacting to a new report"."""
    page = (REPO / "docs" / "report-and-alerts.md").read_text()
    section = page[page.index("### Reacting to a new report"):]
    start = section.index("```python") + len("```python")
    return section[start:section.index("```", start)]
