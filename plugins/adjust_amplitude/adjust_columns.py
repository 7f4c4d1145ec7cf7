"""The Adjust export's columns the sync reads, defined once.

config's column lists and every list of Adjust columns in the SQL files (through the Jinja global
`adjust`, see sql_templates) are made from COLUMNS, so a column the sync starts to read is added
here and nowhere else. Only the SQL of the rules names the columns the rules read (`rule`).
"""

from __future__ import annotations

import dataclasses
import types


@dataclasses.dataclass(frozen=True)
class AdjustColumn:
    name: str
    # The export must carry it (input_contract); an optional column it lacks reads as NULL.
    required: bool = False
    # Read by the rules that scope, validate and key a row (stage_adjust_rows), whose SQL names it.
    # The ledger keeps these first, as the rules leave them; every other column it keeps as it came.
    rule: bool = False
    # Compared with Amplitude's identifiers: the stage and the ledger keep it normalised, as match_<name>.
    identifier: bool = False
    # An advertising or device id, which the report's CSV masks (report_identifiers).
    device_id: bool = False
    # Adjust's Unix seconds, which the report's CSV shows as a time.
    unix_seconds: bool = False
    # As the ledger keeps it, and discrepancy_rows (a copy of ledger rows); rejected_rows keeps the
    # export's text.
    ledger_type: str = "STRING"
    # What brought a column read since the first version. A table made before lacks it, so it comes
    # after the first version's columns (prepare_outputs adds it at the end), and it is no part of a
    # row's fingerprint, so the rejected rows stored before keep theirs.
    added_with: str = ""


# In the order the report's CSV shows them, and the output tables keep them but for those added
# since the first version, which come last.
COLUMNS = (
    AdjustColumn("app_token", rule=True),
    AdjustColumn("activity_kind", required=True, rule=True),
    AdjustColumn("created_at", required=True, rule=True, unix_seconds=True, ledger_type="INT64"),
    AdjustColumn("adid", required=True, rule=True, device_id=True),
    AdjustColumn("os_name", required=True, rule=True),
    AdjustColumn("environment", rule=True),
    AdjustColumn("idfa", identifier=True, device_id=True),
    AdjustColumn("idfv", identifier=True, device_id=True),
    AdjustColumn("gps_adid", identifier=True, device_id=True),
    AdjustColumn("android_id", device_id=True),
    AdjustColumn("google_app_set_id", identifier=True, device_id=True, added_with="App Set ID"),
    AdjustColumn("external_device_id", identifier=True, device_id=True),
    AdjustColumn("tracker_name"),
    AdjustColumn("network_name"),
    AdjustColumn("campaign_name"),
    AdjustColumn("adgroup_name"),
    AdjustColumn("creative_name"),
    AdjustColumn("country"),
    AdjustColumn("installed_at", unix_seconds=True),
    AdjustColumn("reattributed_at", unix_seconds=True),
    # Adjust's ATT status: 0 not determined, 1 restricted, 2 denied, 3 authorized.
    AdjustColumn("att_status", added_with="the report's diagnosis"),
)

ADJUST_REQUIRED_COLUMNS = tuple(c.name for c in COLUMNS if c.required)
ADJUST_OPTIONAL_COLUMNS = tuple(c.name for c in COLUMNS if not c.required)
# The order the stage reads them in, which is the order of a row's fingerprint too: changing it
# would change every fingerprint.
ADJUST_COLUMNS = ADJUST_REQUIRED_COLUMNS + ADJUST_OPTIONAL_COLUMNS


def _match_column(column: AdjustColumn) -> AdjustColumn:
    """The match_<name> column the ledger keeps for an identifier: text, as old as the identifier."""
    return AdjustColumn(f"match_{column.name}", added_with=column.added_with)


_BY_NAME = {c.name: c for c in COLUMNS}
_FIRST = tuple(c for c in COLUMNS if not c.added_with)
_ADDED = tuple(c for c in COLUMNS if c.added_with)
# What the SQL templates see as `adjust` (sql_templates): the columns in each order a statement
# lists them in. The ledger's lists leave out the columns the rules read, which its statements name.
FOR_TEMPLATES = types.SimpleNamespace(
    columns=COLUMNS,
    read=tuple(_BY_NAME[name] for name in ADJUST_COLUMNS),
    first=_FIRST,
    added=_ADDED,
    # The first version's columns, then the match_ columns of its identifiers.
    ledger_first=tuple(c for c in _FIRST if not c.rule) + tuple(_match_column(c) for c in _FIRST if c.identifier),
    # Each added column followed by its match_ column, where it is an identifier.
    ledger_added=tuple(kept for c in _ADDED if not c.rule
                       for kept in ((c, _match_column(c)) if c.identifier else (c,))),
)
