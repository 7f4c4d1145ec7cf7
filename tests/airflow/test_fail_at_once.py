"""What a retry cannot change fails at once: the errors of a refused input, an invalid setting or
Connection, and the gates are Airflow's AirflowFailException (adjust_amplitude/failures.py), so
the task fails on its first try with its own message. Transient errors keep the DAG's retries
(test_end_to_end.py's every-task-failing-once test is retried by Airflow)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess

import pytest

from airflow_runs import AIRFLOW
from pipeline_helpers import DAY, adjust_row, write_inputs

pytestmark = pytest.mark.slow  # `airflow dags test` of whole days

DAG_ID = "adjust_amplitude_attribution"
# Far longer than a run that fails at once takes, even on a busy machine; a task that is retried
# instead waits 2, 4 and 8 minutes and still ends failed, with try_number 4, which the asserts catch.
LIMIT_SECONDS = 1800


def test_errors_a_retry_cannot_change_are_airflow_fail_exceptions_and_transient_ones_are_not():
    from airflow.exceptions import AirflowException

    from adjust_amplitude import amplitude_hook, config, pipeline, push, run_day
    from adjust_amplitude.failures import AirflowFailException  # the class Airflow's task runner catches
    from adjust_amplitude.warehouse import WarehouseError
    from adjust_amplitude.warehouse.base import WarehouseConnectionError

    final = [pipeline.InputError, config.SettingsError, pipeline.RejectGateError, pipeline.ValidationGateError,
             pipeline.OpenRowsError, WarehouseConnectionError, amplitude_hook.AmplitudeAuthError,
             amplitude_hook.AmplitudeRedirectError, amplitude_hook.AmplitudeRepeatedRefusalError, run_day.FutureDayError]
    transient = [WarehouseError, push.PushIncomplete, amplitude_hook.AmplitudeUnexpectedAnswerError]
    assert all(issubclass(error, AirflowFailException) for error in final)
    assert not any(issubclass(error, AirflowException) for error in transient)
    # the message stays the error's own, and callers catching the old bases still catch them
    assert str(pipeline.InputError("column os_name is missing")) == "column os_name is missing"
    assert issubclass(pipeline.InputError, ValueError) and issubclass(pipeline.ValidationGateError, RuntimeError)


def dags_test_tries(tmp_path, airflow_home, env_extra: dict[str, str],
                    day: dt.date = DAY) -> tuple[int, dict[str, tuple[str, int]], str]:
    """`airflow dags test` of `day` in an Airflow home of its own: its exit code, each task's final
    state and try number, and its output."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(airflow_home / "airflow.pristine.db", home / "airflow.db")
    env = {**os.environ, "AIRFLOW_HOME": str(home), **env_extra}
    done = subprocess.run([AIRFLOW, "dags", "test", DAG_ID, day.isoformat()], env=env, capture_output=True,
                          text=True, timeout=LIMIT_SECONDS)
    with sqlite3.connect(home / "airflow.db") as con:
        rows = con.execute("SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ?", [DAG_ID]).fetchall()
    return done.returncode, {task: (state, tries) for task, state, tries in rows}, done.stdout + done.stderr


def test_a_refused_input_fails_check_inputs_on_its_first_try(tmp_path, airflow_home):
    db = tmp_path / "w.duckdb"
    columns = ("app_token", "activity_kind", "created_at", "adid", "idfv")  # no os_name, which the run reads
    write_inputs(db, [adjust_row(adid="a1", idfv="V1")], [], adjust_columns=columns)
    code, tasks, output = dags_test_tries(tmp_path, airflow_home, {
        "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(db)}),
        "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "reports")}),
    })
    assert code != 0
    assert tasks["plan_day"] == ("success", 1)
    assert tasks["check_inputs"] == ("failed", 1), tasks
    assert "adjust.raw_events lacks required column(s) os_name" in output


@pytest.mark.parametrize("case", ["unknown setting", "no warehouse connection"])
def test_a_bad_setting_fails_on_its_first_try(case, tmp_path, airflow_home):
    if case == "unknown setting":
        env = {"AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "r"), "max_invalid": 1}),
               "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "w.duckdb")})}
        task, message = "plan_day", "unknown keys ['max_invalid']"
    else:
        env = {"AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "r")})}
        task, message = "check_inputs", "Connection adjust_amplitude_warehouse is not set"
    code, tasks, output = dags_test_tries(tmp_path, airflow_home, env)
    assert code != 0
    assert tasks[task] == ("failed", 1), tasks
    assert message in output


def test_a_task_that_fails_for_good_is_told_once_to_each_target_naming_day_task_error_and_log(tmp_path, airflow_home):
    """Before: nobody was told; only a report's content raised alerts (issue 23, part 4)."""
    from notify_servers import SlackServer, SmtpServer

    db = tmp_path / "w.duckdb"
    write_inputs(db, [adjust_row(adid="a1", idfv="V1")], [], adjust_columns=("app_token", "activity_kind", "created_at", "adid"))
    notify = [{"type": "email", "conn_id": "ops_smtp", "to": ["ops@example.com"]},
              {"type": "slack", "conn_id": "ops_slack", "only_alerts": True}]
    with SmtpServer() as smtp, SlackServer() as slack:
        code, tasks, output = dags_test_tries(tmp_path, airflow_home, {
            "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(db)}),
            "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps({"report_dir": str(tmp_path / "reports"), "notify": notify,
                                                                  "notify_backoff_seconds": 0.05}),
            "AIRFLOW_CONN_OPS_SMTP": json.dumps(smtp.connection()),
            "AIRFLOW_CONN_OPS_SLACK": json.dumps(slack.connection()),
        })
    assert code != 0 and tasks["check_inputs"] == ("failed", 1), tasks
    day = DAY  # `dags test` of a date processes that date
    assert len(smtp.messages) == 1 and len(slack.texts) == 1, output[-3000:]
    mail, text = smtp.messages[0], slack.texts[0]
    assert mail["Subject"] == f"FAILED attribution sync {day}: task check_inputs"
    import html
    from importlib import metadata

    # Airflow 3.1 hands callbacks no error: the message points to the log instead.
    error = ("its error is in the task's log" if metadata.version("apache-airflow").startswith("3.1.")
             else "InputError: adjust_table adjust.raw_events lacks required column(s) os_name")
    for body in (html.unescape(smtp.html()), text):
        assert f"Task check_inputs of the run for {day} failed for good: {error}" in body
        assert f"/dags/{DAG_ID}/runs/" in body and "/tasks/check_inputs" in body  # the log's URL
