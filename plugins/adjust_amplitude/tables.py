"""Names of the tables one run reads and writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types

from adjust_amplitude.config import Settings
from adjust_amplitude.sql_templates import quote_table


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
    stage: str
    push_results: str

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
        }


def run_tables(settings: Settings, day: dt.date, push_part: str = "all") -> RunTables:
    """Scratch tables carry the day (and push partition) so concurrent days never share one."""
    out = settings.output_dataset
    suffix = day.strftime("%Y%m%d")
    return RunTables(
        adjust=settings.adjust_table,
        amplitude=settings.amplitude_table,
        ledger=f"{out}.sync_ledger",
        rejected=f"{out}.rejected_rows",
        discrepancy_rows=f"{out}.discrepancy_rows",
        discrepancy_summary=f"{out}.discrepancy_summary",
        runs=f"{out}.sync_runs",
        stage=f"{out}._stage_adjust_{suffix}",
        push_results=f"{out}._push_results_{suffix}_{push_part}",
    )
