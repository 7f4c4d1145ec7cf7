"""Names of the tables one run reads and writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import types

from adjust_amplitude.config import Settings
from adjust_amplitude.sql_templates import quote_table
from adjust_amplitude.warehouse.base import STAGE_PREFIX


@dataclasses.dataclass(frozen=True)
class RunTables:
    """Plain (unquoted) table names; `quoted()` is what SQL templates see as `t`."""

    adjust: str
    amplitude: str
    ledger: str
    rejected: str
    discrepancy_rows: str
    discrepancy_summary: str
    runs: str
    journal: str
    identity_index: str
    index_runs: str
    notifications: str
    stage: str

    def quoted(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(**{k: quote_table(v) for k, v in dataclasses.asdict(self).items()})

    def output_tables(self) -> dict[str, str]:
        """Create statement name -> table, in creation order."""
        return {
            "create_sync_ledger": self.ledger,
            "create_rejected_rows": self.rejected,
            "create_discrepancy_rows": self.discrepancy_rows,
            "create_discrepancy_summary": self.discrepancy_summary,
            "create_sync_runs": self.runs,
            "create_push_journal": self.journal,
            "create_amplitude_identity_index": self.identity_index,
            "create_amplitude_index_runs": self.index_runs,
            "create_notification_log": self.notifications,
        }


def run_tables(settings: Settings, day: dt.date, run_id: str | None = None) -> RunTables:
    """The scratch table carries the day and the run, so two runs (of one day or of two) never
    share one: a backfill of a day next to its scheduled run, or `dags test` beside either."""
    out = settings.output_dataset
    run = hashlib.sha256((run_id or "").encode()).hexdigest()[:12]
    return RunTables(
        adjust=settings.adjust_table,
        amplitude=settings.amplitude_table,
        ledger=f"{out}.sync_ledger",
        rejected=f"{out}.rejected_rows",
        discrepancy_rows=f"{out}.discrepancy_rows",
        discrepancy_summary=f"{out}.discrepancy_summary",
        runs=f"{out}.sync_runs",
        journal=f"{out}.push_journal",
        identity_index=f"{out}.amplitude_identity_index",
        index_runs=f"{out}.amplitude_index_runs",
        notifications=f"{out}.notification_log",
        stage=f"{out}.{STAGE_PREFIX}{day:%Y%m%d}_{run}",
    )
