"""Notifications after a report: a real SMTP server and a Slack-like webhook on loopback get the
headline; a target that fails is retried, recorded, and never fails the data run; nothing is sent
twice, whether the task is retried or the day is run again."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil

import pytest

from adjust_amplitude import pipeline
from adjust_amplitude.config import NotifyTarget, Settings, SettingsError
from adjust_amplitude.notify import notify_targets
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from demo.sample_warehouse import write_warehouse
from notify_servers import SlackServer, SmtpServer, free_port
from pipeline_helpers import query, run_day

FIRST = dt.date(2026, 11, 16)
DAY = FIRST + dt.timedelta(days=4)  # its report closes windows, and has two earlier reports to compare with
EMAIL = NotifyTarget("email", "marketing_smtp", ("growth@example.com", "ua@example.com"))
SLACK = NotifyTarget("slack", "marketing_slack")


@pytest.fixture(scope="module")
def before_day(tmp_path_factory):
    """A warehouse and report folder with the runs of the days before DAY, nobody told."""
    root = tmp_path_factory.mktemp("notify")
    db = root / "warehouse.duckdb"
    write_warehouse(db, FIRST, 7, scale=300, seed=11)
    for offset in range(4):
        run_day(db, FIRST + dt.timedelta(days=offset), settings=Settings(report_dir=str(root / "out")))
    return root


@pytest.fixture
def world(before_day, tmp_path, monkeypatch):
    """A copy of that warehouse; `connect(server...)` points the Connections at the servers."""
    shutil.copytree(before_day, tmp_path / "w")
    root = tmp_path / "w"

    def connect(smtp=None, slack=None):
        if smtp:
            monkeypatch.setenv("AIRFLOW_CONN_MARKETING_SMTP", json.dumps(smtp.connection()))
        if slack:
            monkeypatch.setenv("AIRFLOW_CONN_MARKETING_SLACK", json.dumps(slack.connection()))

    return root, connect


def settings(root, targets=(EMAIL, SLACK), **values) -> Settings:
    # Short waits, and a timeout a busy machine's loopback answer stays well within.
    quick = {"notify_attempts": 3, "notify_backoff_seconds": 0.05, "notify_timeout_seconds": 10}
    return Settings(report_dir=str(root / "out"), notify=tuple(targets), **{**quick, **values})


def log_rows(root) -> dict[tuple[str, str], dict]:
    rows = query(root / "warehouse.duckdb", "SELECT * FROM attribution.notification_log")
    return {(r["message"], r["target"]): r for r in rows}


def summary_figures(root, day) -> dict:
    row = query(root / "warehouse.duckdb", "SELECT SUM(matched) AS matched, SUM(unmatched) AS unmatched, "
                "SUM(no_identifier) AS no_identifier FROM attribution.discrepancy_summary WHERE report_day = ?", [day])[0]
    decided = row["matched"] + row["unmatched"] + row["no_identifier"]
    return {"match_rate": f"{row['matched'] / decided * 100:.1f}%", "unmatched": f"Unmatched {row['unmatched']:,}",
            "no_identifier": f"No identifier {row['no_identifier']:,}"}


def outcome(result, target) -> dict:
    return next(o for o in result["notified"] if o["target"] == target.label and o["message"] == "report")


def test_each_target_is_told_the_headline_once(world):
    root, connect = world
    with SmtpServer() as smtp, SlackServer() as slack:
        connect(smtp, slack)
        result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root))
        assert [(o["target"], o["told"], o["attempts"]) for o in result["notified"]] == [
            ("email:marketing_smtp", True, 1), ("slack:marketing_slack", True, 1)]
        assert len(smtp.messages) == 1 and len(slack.texts) == 1
        mail, text = smtp.messages[0], slack.texts[0]
        assert sorted(a.addr_spec for a in mail["To"].addresses) == ["growth@example.com", "ua@example.com"]
        expected = summary_figures(root, DAY)
        for figure in expected.values():
            assert figure in mail["Subject"] + smtp.html() and figure in text, figure
        assert f"match rate {expected['match_rate']}" in mail["Subject"]
        report = result["paths"]["html"]
        assert report in smtp.html() and report in text
        for word in ("vs previous report", "vs 30-day average", "Significant: at the 95% level"):
            assert word in text

        logged = log_rows(root)
        assert {k: (r["status"], r["attempts"], r["run_id"]) for k, r in logged.items()} == {
            ("report", "email:marketing_smtp"): ("told", 1, f"test__{DAY}"),
            ("report", "slack:marketing_slack"): ("told", 1, f"test__{DAY}"),
        }

        # The task retried (same run), then the day run again (another run): nobody is told twice.
        plan = Plan(DAY, f"test__{DAY}", settings(root))
        again = notify_targets(Run(plan, warehouse=DuckDBWarehouse(root / "warehouse.duckdb")), result["paths"]["notices"])
        assert [(o["told"], o["sent_now"]) for o in again] == [(True, False), (True, False)]
        rerun = run_day(root / "warehouse.duckdb", DAY, settings=settings(root), run_id="manual__again")
        assert [(o["told"], o["sent_now"], o["run_id"]) for o in rerun["notified"]] == [(True, False, f"test__{DAY}")] * 2
        assert len(smtp.messages) == 1 and len(slack.texts) == 1


def test_smtp_refusal_is_retried_recorded_and_tried_again_by_a_later_run(world, caplog):
    root, connect = world
    with SmtpServer() as smtp, SlackServer() as slack:
        connect(smtp, slack)
        smtp.refuse = True
        with caplog.at_level(logging.WARNING, logger="adjust_amplitude.notify"):
            result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root))  # the data run succeeds
        email = outcome(result, EMAIL)
        assert (email["told"], email["attempts"]) == (False, 3)
        assert "554" in email["error"] and "refused by policy" in email["error"]
        assert outcome(result, SLACK)["told"] and len(slack.texts) == 1
        assert sum("Notifying email:marketing_smtp failed" in r.getMessage() for r in caplog.records) == 3
        assert log_rows(root)[("report", EMAIL.label)]["status"] == "failed"

        smtp.refuse = False
        later = run_day(root / "warehouse.duckdb", DAY, settings=settings(root), run_id="manual__later")
        assert (outcome(later, EMAIL)["told"], outcome(later, EMAIL)["sent_now"]) == (True, True)
        assert (outcome(later, SLACK)["told"], outcome(later, SLACK)["sent_now"]) == (True, False)
        assert len(smtp.messages) == 1 and len(slack.texts) == 1
        assert log_rows(root)[("report", EMAIL.label)]["run_id"] == "manual__later"


def test_webhook_500_then_200_is_told_on_the_second_attempt(world):
    root, connect = world
    with SlackServer(script=[500]) as slack:
        connect(slack=slack)
        result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [SLACK]))
    assert (outcome(result, SLACK)["told"], outcome(result, SLACK)["attempts"]) == (True, 2)
    assert slack.requests == 2 and len(slack.texts) == 1
    assert log_rows(root)[("report", SLACK.label)]["attempts"] == 2


def test_webhook_that_times_out_is_recorded_without_its_secret(world, caplog):
    root, connect = world
    with SlackServer(script=["stall"] * 3, stall_seconds=3) as slack:
        connect(slack=slack)
        with caplog.at_level(logging.DEBUG):
            result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [SLACK], notify_timeout_seconds=1))
    slack_outcome = outcome(result, SLACK)
    assert (slack_outcome["told"], slack_outcome["attempts"]) == (False, 3)
    assert "timed out" in slack_outcome["error"]
    logged = log_rows(root)[("report", SLACK.label)]
    assert logged["status"] == "failed"
    secret = SlackServer.SECRET_PATH.rsplit("/", 1)[1]
    assert secret not in caplog.text and secret not in json.dumps(logged, default=str)


def test_smtp_server_down_is_recorded_and_the_run_goes_on(world):
    root, connect = world

    class Down:
        port = free_port()
        connection = SmtpServer.connection

    connect(smtp=Down())
    result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [EMAIL]))
    assert outcome(result, EMAIL)["told"] is False and "Connection refused" in outcome(result, EMAIL)["error"]
    assert result["record"]["new_rows"] > 0


def test_a_message_another_run_is_sending_is_left_to_it(world):
    root, connect = world
    with SlackServer() as slack:
        connect(slack=slack)
        other = Run(Plan(DAY, "other", settings(root)), warehouse=DuckDBWarehouse(root / "warehouse.duckdb"))
        pipeline.prepare_outputs(other)
        with other.warehouse.session() as wh:
            wh.run("claim_notifications", {"report_day": DAY, "message": "report", "targets": [SLACK.label],
                                           "run_id": "other", "claimed_by": "other|notify|1", "claim_prefix": "other|notify|",
                                           "now": int(dt.datetime.now().timestamp()), "claim_ttl_seconds": 600}, t=other.t)
        result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [SLACK]))
    assert [(o["told"], o["sent_now"], o["run_id"]) for o in result["notified"]] == [(False, False, "other")]
    assert slack.requests == 0


def test_only_alerts_targets_hear_nothing_without_an_alert(world):
    root, connect = world
    with SlackServer() as slack:
        connect(slack=slack)
        result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [NotifyTarget("slack", "marketing_slack", only_alerts=True)]))
    assert result["paths"]["notices"]["alert"] is None
    assert result["notified"] == [] and slack.requests == 0


def test_a_report_without_closed_windows_tells_nobody(world):
    root, connect = world
    with SlackServer() as slack:
        connect(slack=slack)
        result = run_day(root / "warehouse.duckdb", FIRST + dt.timedelta(days=5), settings=settings(root, [SLACK]),
                         planned_at=None)
        assert result["paths"]["notices"]["report"] is not None  # the next day closes windows: it is told
        early = run_day(root / "warehouse.duckdb", FIRST, settings=settings(root, [SLACK]), run_id="again")
    assert early["paths"]["notices"] == {"report": None, "alert": None} and early["notified"] == []


@pytest.mark.parametrize("raw, message", [
    ({"type": "pager", "conn_id": "x"}, "notify[0].type = 'pager' must be one of 'email', 'slack'"),
    ({"type": "email", "conn_id": "x"}, "notify[0]: an email target needs `to`"),
    ({"type": "email", "conn_id": "x", "to": ["not-an-address"]}, "notify[0].to = ['not-an-address'] should be a list of email addresses"),
    ({"type": "slack", "conn_id": "x", "to": ["a@b.c"]}, "notify[0]: a slack target posts to its webhook's channel"),
    ({"type": "slack", "conn_id": ""}, "notify[0].conn_id must name an Airflow Connection"),
    ({"type": "slack", "conn_id": "x", "channel": "#m"}, "notify[0] has unknown keys ['channel']"),
    ({"type": "slack", "conn_id": "x", "only_alerts": "yes"}, "notify[0].only_alerts = 'yes' should be true or false"),
    ("slack:x", "notify[0] = 'slack:x' should be an object"),
])
def test_notify_targets_are_validated_naming_the_key(raw, message):
    with pytest.raises(SettingsError, match=None) as caught:
        Settings.from_mapping({"notify": [raw]})
    assert message in str(caught.value)


def test_notify_settings_are_checked_together():
    twice = [{"type": "slack", "conn_id": "x"}, {"type": "slack", "conn_id": "x"}]
    with pytest.raises(SettingsError, match="names a target twice"):
        Settings.from_mapping({"notify": twice})
    Settings.from_mapping({"notify": [twice[0], {**twice[1], "name": "second"}]})
    with pytest.raises(SettingsError, match="must stay below claim_ttl_seconds"):
        Settings.from_mapping({"notify": twice[:1], "notify_attempts": 10, "notify_timeout_seconds": 60})
    with pytest.raises(SettingsError, match="significance_level must be at least 0.5 and below 1"):
        Settings(significance_level=95)


def test_a_webhook_that_is_down_leaves_its_secret_out_of_logs_and_the_log_table(world, caplog, capfd):
    root, connect = world
    class Down:  # the webhook's URL on a port nothing listens on
        def connection(self):
            return {"conn_type": "slackwebhook", "password": f"http://127.0.0.1:{free_port()}{SlackServer.SECRET_PATH}"}

    connect(slack=Down())
    with caplog.at_level(logging.DEBUG):
        result = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [SLACK]))
    assert outcome(result, SLACK)["told"] is False and "Connection refused" in outcome(result, SLACK)["error"]
    secret = SlackServer.SECRET_PATH.rsplit("/", 1)[1]
    # Airflow's hook loggers do not all reach caplog: what they print is checked too.
    printed = "".join(capfd.readouterr())
    assert "Connection refused" in printed
    assert secret not in caplog.text + printed and secret not in json.dumps(list(log_rows(root).values()), default=str)


def test_errors_are_shown_with_every_url_cut_to_its_host():
    from adjust_amplitude.notify import describe

    error = ValueError("unknown url type: 'https://hooks.slack.com/services/T0/B0/s3cr3t' (see https://api.slack.com/x)")
    assert describe(error) == "ValueError: unknown url type: 'https://hooks.slack.com/…' (see https://api.slack.com/…)"
    assert len(describe(RuntimeError("x" * 5000))) == 500


def test_names_from_data_cannot_shape_a_message():
    """A campaign named to mention everyone in Slack, or to add a header to an email, stays text."""
    from adjust_amplitude.report.notice import email_html, slack_text

    notice = {"subject": "x", "lines": ["Moved: <!channel> & <https://evil.example|click> (campaign)"], "link": "r.html"}
    text = slack_text(notice)
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
    assert "<!channel>" not in email_html(notice) and "&lt;!channel&gt;" in email_html(notice)


def test_a_line_break_in_a_name_stays_out_of_the_subject():
    from test_moves import _content, generate

    history, reasons = generate(seed=2, drop={"TikTok": 10})
    for row in history + reasons:
        if row["network_name"] == "TikTok":
            row["network_name"] = "Tik\r\nBcc: all@example.com"
    from adjust_amplitude.report.notice import notices

    alert = notices(_content(history, reasons), "r.html")["alert"]
    assert "Tik␍␊Bcc: all@example.com" in alert["subject"]
    assert not any(c in alert["subject"] + "".join(alert["lines"]) for c in "\r\n")


def test_attempts_wait_longer_each_time(monkeypatch):
    from adjust_amplitude import notify

    waits: list[float] = []
    monkeypatch.setattr(notify.time, "sleep", waits.append)
    with SlackServer(script=[500] * 3) as slack:
        monkeypatch.setenv("AIRFLOW_CONN_MARKETING_SLACK", json.dumps(slack.connection()))
        told, attempts, error = notify.deliver(SLACK, {"subject": "s", "lines": ["l"], "link": "r"},
                                               Settings(notify_attempts=4, notify_backoff_seconds=10))
    assert (told, attempts, error) == (True, 4, None) and waits == [10, 20, 40] and len(slack.texts) == 1


def test_claims_are_renewed_before_a_slow_target_lets_them_lapse(world):
    """The second message would still be sending when its claim lapses (a slow first target, and a
    worst case close to claim_ttl_seconds): its claim is renewed before it is sent."""
    root, connect = world
    second = NotifyTarget("slack", "marketing_slack", name="second")
    slow = settings(root, [SLACK, second], claim_ttl_seconds=30, notify_timeout_seconds=14, notify_attempts=2,
                    notify_backoff_seconds=0)
    assert slow.notify_seconds == 28
    with SlackServer(script=["stall"], stall_seconds=3) as slack:
        connect(slack=slack)
        result = run_day(root / "warehouse.duckdb", DAY, settings=slow)
    assert [(o["target"], o["told"], o["attempts"]) for o in result["notified"]] == [(SLACK.label, True, 1), ("second", True, 1)]
    rows = log_rows(root)
    renewed = rows[("report", "second")]["claimed_at"] - rows[("report", SLACK.label)]["claimed_at"]
    assert renewed >= dt.timedelta(seconds=3)


def test_a_dry_run_tells_nobody_and_leaves_the_day_to_the_real_run(world, caplog):
    root, connect = world
    with SlackServer() as slack:
        connect(slack=slack)
        with caplog.at_level(logging.INFO, logger="adjust_amplitude.notify"):
            dry = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [SLACK]), dry_run=True)
        assert dry["notified"] == [] and slack.requests == 0
        assert "Not told (a dry run sends nothing): Attribution gap report" in caplog.text
        real = run_day(root / "warehouse.duckdb", DAY, settings=settings(root, [SLACK]), run_id="real")
    assert outcome(real, SLACK)["sent_now"] and len(slack.texts) == 1


def test_a_run_that_fails_in_two_tasks_tells_each_target_once(world, monkeypatch):
    """Two push partitions failing for good in one run: one message per target, kept in
    notification_log; another run of the day that fails is told again (test_fail_at_once runs
    the callback inside Airflow)."""
    from types import SimpleNamespace

    from adjust_amplitude import notify

    root, connect = world
    with SmtpServer() as smtp, SlackServer() as slack:
        connect(smtp, slack)
        monkeypatch.setenv("AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(root / "warehouse.duckdb")}))
        monkeypatch.setenv("AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS", settings(root).to_json())
        logical = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.timezone.utc)

        def failed(run_id, partition):
            ti = SimpleNamespace(task_id="push_to_amplitude", map_index=partition, log_url=f"http://airflow.example/log/{partition}")
            notify.task_failed({"ti": ti, "params": {}, "run_id": run_id, "logical_date": logical, "dag_run": None,
                                "exception": RuntimeError("first line\nsecond line")})

        failed("scheduled__1", 0)
        failed("scheduled__1", 1)
        assert len(smtp.messages) == 1 and len(slack.texts) == 1
        assert f"Task push_to_amplitude[0] of the run for {DAY} failed for good: RuntimeError: first line" in slack.texts[0]
        assert "second line" not in slack.texts[0] and "Log: http://airflow.example/log/0" in slack.texts[0]
        assert {k for k in log_rows(root) if k[0].startswith("failure")} == {
            ("failure scheduled__1", "email:marketing_smtp"), ("failure scheduled__1", "slack:marketing_slack")}
        failed("manual__2", 0)
        assert len(smtp.messages) == 2 and len(slack.texts) == 2


def test_a_failure_is_told_when_the_warehouse_itself_is_out_of_reach(world, monkeypatch):
    """No warehouse Connection (what failed the task): no notification_log to claim in, told anyway."""
    from types import SimpleNamespace

    from adjust_amplitude import notify

    root, connect = world
    with SmtpServer() as smtp, SlackServer() as slack:
        connect(smtp, slack)
        monkeypatch.delenv("AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE", raising=False)
        monkeypatch.setenv("AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS", settings(root).to_json())
        ti = SimpleNamespace(task_id="check_inputs", map_index=-1, log_url="http://airflow.example/log")
        notify.task_failed({"ti": ti, "params": {}, "run_id": "scheduled__1", "dag_run": None,
                            "logical_date": dt.datetime.combine(DAY, dt.time(), tzinfo=dt.timezone.utc),
                            "exception": RuntimeError("no connection")})
        assert len(smtp.messages) == 1 and len(slack.texts) == 1
        assert f"Task check_inputs of the run for {DAY} failed for good: RuntimeError: no connection" in slack.texts[0]


def _missed_deadline(run_id: str, queued_at: dt.datetime, conf: dict | None = None) -> dict:
    """What Airflow's scheduler hands a missed deadline's callback: the run as its API shows it, and
    the deadline (due at 06:00 UTC the day after DAY)."""
    from types import SimpleNamespace

    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse

    logical = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.timezone.utc)
    run = SimpleNamespace(
        run_id=run_id, dag_id="adjust_amplitude_attribution", logical_date=logical, queued_at=queued_at,
        start_date=queued_at, end_date=None, duration=None, data_interval_start=logical,
        data_interval_end=logical + dt.timedelta(days=1), run_after=logical + dt.timedelta(days=1),
        last_scheduling_decision=None, run_type=run_id.split("__")[0], state="running", triggered_by=None,
        triggering_user_name=None, conf=conf or {}, note=None, dag_versions=[], bundle_version=None,
        dag_model=SimpleNamespace(dag_display_name="adjust_amplitude_attribution"), partition_key=None, partition_date=None)
    return {"dag_run": DAGRunResponse.model_validate(run).model_dump(mode="json"),
            "deadline": {"id": "0199", "deadline_time": logical + dt.timedelta(days=1, hours=6)}}


def _run_callback(context: dict) -> dict:
    """The callback as Airflow's triggerer runs it: its CallbackTrigger, with the context."""
    import asyncio

    from airflow.triggers.callback import CallbackTrigger

    from adjust_amplitude.deadline import CALLBACK

    async def events():
        return [e.payload async for e in CallbackTrigger(callback_path=CALLBACK, callback_kwargs={"context": context}).run()]

    return asyncio.run(events())[-1]


def test_a_report_not_out_by_its_deadline_is_told_once_to_each_target(world, monkeypatch):
    """report_deadline_utc: the deadline alert's callback tells every target once per run, naming
    the day, when it was due and the run's page; a run made after its deadline (a backfill of
    earlier days) and a run with notify off tell nobody."""
    root, connect = world
    with SmtpServer() as smtp, SlackServer() as slack:
        connect(smtp, slack)
        monkeypatch.setenv("AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(root / "warehouse.duckdb")}))
        monkeypatch.setenv("AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS", settings(root).to_json())
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example")
        next_midnight = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
        scheduled = f"scheduled__{next_midnight.isoformat()}"
        done = _run_callback(_missed_deadline(scheduled, next_midnight))
        assert done["state"] == "success" and done["body"] == f"told: report of {DAY} late"
        assert len(smtp.messages) == 1 and len(slack.texts) == 1
        due = f"{DAY + dt.timedelta(days=1)} 06:00:00 UTC"
        assert f"LATE attribution report {DAY}: not out by {due}" in slack.texts[0]
        assert "Run: http://airflow.example/dags/adjust_amplitude_attribution/runs/scheduled__" in slack.texts[0]
        assert f"LATE attribution report {DAY}: not out by {due}" in smtp.messages[0]["Subject"]
        assert {k for k in log_rows(root) if k[0].startswith("late")} == {
            (f"late {scheduled}", "email:marketing_smtp"), (f"late {scheduled}", "slack:marketing_slack")}
        # the same run's deadline handled again (a restarted triggerer): told already
        _run_callback(_missed_deadline(scheduled, next_midnight))
        assert len(smtp.messages) == 1 and len(slack.texts) == 1
        # a backfill of the day made a week on: late before it began
        later = _run_callback(_missed_deadline("backfill__x", next_midnight + dt.timedelta(days=7)))
        assert later["body"] == "made after its deadline: not told"
        _run_callback(_missed_deadline("manual__y", next_midnight, conf={"notify": False}))
        assert len(smtp.messages) == 1 and len(slack.texts) == 1
