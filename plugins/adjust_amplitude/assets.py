"""Airflow Assets this project produces, so other DAGs can be scheduled on them."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated by every run's write_report task. The event's `extra` holds the run day, where the
# report, CSV and index are, and the headline figures (see docs/report-and-alerts.md, "Reacting to a new report").
DISCREPANCY_REPORT = Asset(name="adjust_amplitude_discrepancy_report")
