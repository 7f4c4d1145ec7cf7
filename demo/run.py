"""`make demo`: run the real DAG with `airflow dags test` for consecutive days, then say where
the reports are. Runs in the Makefile's environment (local AIRFLOW_HOME, sample warehouse)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from adjust_amplitude.config import load_settings

DAG_ID = "adjust_amplitude_attribution"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first-day", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args(argv)
    airflow = str(Path(sys.executable).with_name("airflow"))
    log_dir = Path(os.environ["AIRFLOW_HOME"]) / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for offset in range(args.days):
        day = args.first_day + dt.timedelta(days=offset)
        log_path = log_dir / f"dags-test-{day}.log"
        started = time.monotonic()
        with log_path.open("w") as log:
            done = subprocess.run([airflow, "dags", "test", DAG_ID, day.isoformat()], stdout=log, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            print(log_path.read_text()[-6000:])
            print(f"airflow dags test {DAG_ID} {day} failed; full log: {log_path}")
            return done.returncode
        print(f"{day}: ran in {time.monotonic() - started:.1f} s (log: {log_path})")
    from adjust_amplitude.report import INDEX_NAME
    from adjust_amplitude.report.storage import file_names, location, report_root

    reports = report_root(load_settings())  # the Variable the runs used, if one is set
    last = args.first_day + dt.timedelta(days=args.days - 1)
    names = file_names(last)
    print()
    print(f"Newest report (run of {last}): {location(reports / names['html'])}")
    print(f"Its rows (CSV):                {location(reports / names['csv'])}")
    print(f"Index of all reports:          {location(reports / INDEX_NAME)}")
    headline = json.loads((reports / names["json"]).read_text())
    rate = "n/a" if headline["match_rate"] is None else f"{headline['match_rate'] * 100:.1f}%"
    print(f"It covers Adjust day(s) {', '.join(headline['adjust_days']) or 'none'}: {headline['adjust_rows']:,} attributions, "
          f"{headline['matched']:,} matched, {headline['unmatched']:,} unmatched, {headline['no_identifier']:,} without "
          f"identifier, {headline['rejected']:,} rejected; match rate {rate}.")
    outbox = reports / f"outbox_{last}.jsonl"
    if outbox.exists():
        print(f"Dry run outbox (no API key set): {location(outbox)}")
    if not load_settings().notify:
        print(f"No notify target set: what email and Slack would be told is in the notify_targets task's log, "
              f"{log_dir / f'dags-test-{last}.log'} (docs/report-and-alerts.md: Notifications).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
