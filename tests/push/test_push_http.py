"""The push step against a real HTTP server on loopback that speaks the Attribution API contract."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import html
import json
import logging
import math
import re
import urllib.parse

import pytest

from adjust_amplitude import pipeline, push
from adjust_amplitude.amplitude_hook import (
    MAX_REFUSED_IN_A_ROW,
    MAX_UNEXPECTED_IN_A_ROW,
    AmplitudeAttributionHook,
    AmplitudeAuthError,
    AmplitudeRedirectError,
    AmplitudeRepeatedRefusalError,
    AmplitudeStopError,
    AmplitudeUnexpectedAnswerError,
    RetryPolicy,
)
from adjust_amplitude.config import Settings
from adjust_amplitude.failures import NotRetryable
from adjust_amplitude.pipeline import RejectGateError
from adjust_amplitude.push import PushIncomplete
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.warehouse.duckdb_warehouse import DuckDBWarehouse
from attribution_server import CUT_ANSWERS, EMPTY_200, JSON_200
from pipeline_helpers import (DAY, adjust_row, amplitude_event, ledger, matched_run, matched_warehouse, query, run_day, run_of,
                              snapshot,
                              ts, write_inputs)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    rows = [adjust_row(adid=f"r{i:02d}", idfv=f"IDFV-{i:02d}", created_at=ts(DAY, i)) for i in range(10)]
    rows.append(adjust_row(adid="ext-only", external_device_id="user-7", created_at=ts(DAY, 11)))
    events = [amplitude_event(ts(DAY, 12), device_id=f"IDFV-{i:02d}") for i in range(10)]
    events.append(amplitude_event(ts(DAY, 12), user_id="user-7", device_id="web-device"))
    write_inputs(path, rows, events)
    return path


def lenient(tmp_path, **values):
    """Settings that let a refused row or two past the reject gate (tested on its own below)."""
    return Settings(max_reject_ratio=0.25, report_dir=str(tmp_path / "reports"), **values)


def statuses(path):
    return {r["adid"]: r["status"] for r in ledger(path).values()}


def test_matched_rows_are_sent_once_and_recorded(db, server, tmp_path):
    result = run_day(db, settings=lenient(tmp_path))
    assert result["push"]["sent"] == 10 and result["push"]["dry_run"] is False
    assert sorted(e["idfv"] for e in server.events) == [f"IDFV-{i:02d}" for i in range(10)]
    assert set(server.counts().values()) == {1}
    rows = ledger(db)
    sent = [r for r in rows.values() if r["status"] == "sent"]
    assert len(sent) == 10 and all(r["http_status"] == 200 and r["sent_at"] for r in sent)
    assert all(r["sent_run_day"] == DAY and r["attempts"] == 1 for r in sent)
    # matched by external_device_id only: nothing Amplitude can attribute by, so not sent
    assert statuses(db)["ext-only"] == "rejected"
    (reject,) = query(db, "SELECT reason, stage FROM attribution.rejected_rows")
    assert reject == {"reason": "no_sendable_identifier", "stage": "amplitude_api"}
    assert result["record"]["sent_by_run"] == 10 and result["record"]["api_rejected_by_run"] == 1

    before = snapshot(db)
    run_day(db, settings=lenient(tmp_path))
    run_day(db, DAY + dt.timedelta(days=1), settings=lenient(tmp_path))
    assert len(server.events) == 10, "a re-run must not send anything again"
    assert snapshot(db)["sync_ledger"] == before["sync_ledger"]


def test_a_400_rejects_that_row_with_the_body_and_the_run_goes_on(db, server, tmp_path):
    server.reject = lambda event: event.get("idfv") == "IDFV-03"
    run_day(db, settings=lenient(tmp_path))
    assert statuses(db)["r03"] == "rejected"
    assert sum(1 for s in statuses(db).values() if s == "sent") == 9
    row = query(db, "SELECT reason, http_status, response_body FROM attribution.rejected_rows WHERE adid = 'r03'")[0]
    assert row["reason"] == "amplitude_http_400" and row["http_status"] == 400
    assert "refused by test" in row["response_body"]


def test_server_errors_are_retried_until_acknowledged(db, server, tmp_path):
    server.fail_first = 3
    result = run_day(db, settings=lenient(tmp_path))
    assert result["push"]["sent"] == 10
    assert server.requests == 10 + 3  # the unsendable row makes no request
    assert len(server.events) == 10


def test_rows_whose_retries_run_out_stay_matched_and_a_retry_resumes(db, server, tmp_path):
    settings = lenient(tmp_path, max_attempts=2, backoff_max_seconds=0.01)
    server.fail_when = lambda event: event.get("idfv") in ("IDFV-00", "IDFV-01")
    run = matched_run(db, settings)
    with pytest.raises(PushIncomplete, match="2 rows were not acknowledged"):
        pipeline.push(run)
    assert sorted(a for a, s in statuses(db).items() if s == "matched") == ["r00", "r01"]
    assert len(server.events) == 8
    server.fail_when = lambda event: False  # the outage ends
    stats = pipeline.push(run)  # what an Airflow task retry does
    assert stats["sent"] == 2
    assert set(server.counts().values()) == {1} and len(server.events) == 10


def test_a_refused_api_key_stops_the_push_at_once(db, server, monkeypatch, tmp_path):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION",
        json.dumps({"conn_type": "http", "host": server.base_url, "password": "revoked-key-123"}),
    )
    with pytest.raises(AmplitudeAuthError) as raised:
        run_day(db, settings=lenient(tmp_path, max_in_flight=2))
    assert "amplitude_attribution" in str(raised.value) and "revoked-key-123" not in str(raised.value)
    assert server.requests <= 2 * 2  # only what the sender threads had already started
    assert "rejected" not in {s for a, s in statuses(db).items() if a != "ext-only"}
    # The run stopped; it left no scratch table behind (one stayed after a 401 before issue 11).
    tables = {r["name"] for r in query(db, "SELECT table_name AS name FROM information_schema.tables")}
    assert "sync_ledger" in tables and not any(t.startswith("_stage") for t in tables)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_stops_the_push_at_once_naming_host_and_location(db, server, tmp_path, status):
    # A proxy or a moved host answering for the API: followed, the POST would come back as a GET
    # without the event, and the target's answer would be taken for Amplitude's.
    server.redirect = (status, f"{server.base_url}/login?next=/attribution&api_key=test-key")
    with pytest.raises(AmplitudeRedirectError) as raised:
        run_day(db, settings=lenient(tmp_path, max_in_flight=2))
    message = str(raised.value)
    assert f"{server.base_url}/attribution" in message and f"{server.base_url}/login" in message
    assert f"HTTP {status}" in message and "amplitude_attribution" in message
    assert "test-key" not in message and "next=" not in message  # no query string, no key
    assert server.gets == 0 and server.events == []
    assert server.requests <= 2 * 2  # only what the sender threads had already started
    assert set(statuses(db).values()) - {"rejected"} == {"matched"}  # nothing taken as sent
    assert "amplitude_http_3" not in json.dumps(query(db, "SELECT reason FROM attribution.rejected_rows"))


def test_the_same_refusal_of_request_after_request_stops_the_push_naming_the_url(tmp_path, server, monkeypatch):
    """Before: a Connection whose host ended in /attribution posted to /attribution/attribution; every
    request got a 404, and every row was recorded rejected, one after the other (issue 26, part 1)."""
    db = tmp_path / "w.duckdb"
    matched_warehouse(db, 3 * MAX_REFUSED_IN_A_ROW)
    monkeypatch.setenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", json.dumps(
        {"conn_type": "http", "host": f"{server.base_url}/attribution", "password": server.api_key}))
    run = matched_run(db, Settings(max_in_flight=4, report_dir=str(tmp_path / "r")))
    with pytest.raises(AmplitudeRepeatedRefusalError) as raised:
        pipeline.push(run)
    assert isinstance(raised.value, NotRetryable)  # a retry would get the same answer
    message = str(raised.value)
    assert f"{MAX_REFUSED_IN_A_ROW} requests in a row to {server.base_url}/attribution/attribution" in message
    assert "HTTP 404" in message and "amplitude_attribution" in message
    assert "without /attribution" in message and "`resend_rejected` Param" in message
    assert server.api_key not in message
    assert server.requests <= MAX_REFUSED_IN_A_ROW + 2 * 4  # and what the sender threads had started
    # the refusals before the stop are recorded (the Param re-sends them); every other row is left to send
    outcomes = [r["status"] for r in ledger(db).values()]
    assert outcomes.count("rejected") == MAX_REFUSED_IN_A_ROW - 1
    assert outcomes.count("matched") == 3 * MAX_REFUSED_IN_A_ROW - (MAX_REFUSED_IN_A_ROW - 1)


def test_rows_refused_for_a_wrong_host_are_sent_once_the_host_is_fixed_with_the_resend_param(tmp_path, server,
                                                                                             monkeypatch):
    """Before: a refusal was final; fixing the host and running the day again sent 0 of the refused
    rows (issue 26, part 1). With Param resend_rejected the run sends them, each once, and a retry of
    that run or a later run with the Param sends none twice."""
    rows = 3 * MAX_REFUSED_IN_A_ROW
    db = tmp_path / "w.duckdb"
    matched_warehouse(db, rows)
    settings = Settings(max_in_flight=4, report_dir=str(tmp_path / "r"))
    monkeypatch.setenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", json.dumps(
        {"conn_type": "http", "host": f"{server.base_url}/attribution", "password": server.api_key}))
    with pytest.raises(AmplitudeRepeatedRefusalError):
        pipeline.push(matched_run(db, settings))
    refused = {k for k, r in ledger(db).items() if r["status"] == "rejected"}
    assert len(refused) == MAX_REFUSED_IN_A_ROW - 1
    assert len(query(db, "SELECT * FROM attribution.rejected_rows WHERE stage = 'amplitude_api'")) == len(refused)

    monkeypatch.setenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", server.connection_json())  # the host fixed
    pipeline.push(run_of(db, settings, "manual__fixed"))  # a run without the Param: the refusals stand
    assert {k for k, r in ledger(db).items() if r["status"] == "rejected"} == refused
    assert len(server.events) == rows - len(refused)

    resend = Run(Plan(DAY, "manual__resend", settings, resend_rejected=True), warehouse=DuckDBWarehouse(db))
    stats = pipeline.push(resend)
    assert stats["sent"] == len(refused)
    assert len(server.events) == rows and set(server.counts().values()) == {1}  # every row once
    assert {r["status"] for r in ledger(db).values()} == {"sent"}
    assert query(db, "SELECT * FROM attribution.rejected_rows") == []  # the old refusals are gone
    # The same run retried, and another run with the Param: nothing is sent twice.
    assert pipeline.push(Run(resend.plan, warehouse=DuckDBWarehouse(db)))["sent"] == 0
    assert pipeline.push(Run(Plan(DAY, "manual__again", settings, resend_rejected=True),
                             warehouse=DuckDBWarehouse(db)))["sent"] == 0
    assert len(server.events) == rows


def test_a_row_refused_again_after_a_resend_is_not_sent_again_by_a_retry_of_that_run(db, server, tmp_path):
    """Once per run: a row the resend reopens and Amplitude refuses again keeps its new refusal
    when the run's push is tried again."""
    server.reject = lambda event: event["idfv"] == "IDFV-03"
    run_day(db, settings=lenient(tmp_path))
    assert server.requests == 10
    plan = Plan(DAY, "manual__resend", lenient(tmp_path), resend_rejected=True)
    pipeline.push(Run(plan, warehouse=DuckDBWarehouse(db)))
    assert server.requests == 11  # the refused row, once more
    refusals = query(db, "SELECT reason FROM attribution.rejected_rows WHERE reason LIKE 'amplitude_http_%'")
    assert refusals == [{"reason": "amplitude_http_400"}]  # the new refusal in place of the old
    pipeline.push(Run(plan, warehouse=DuckDBWarehouse(db)))  # the task's retry
    assert server.requests == 11


@pytest.mark.parametrize("cut", sorted(CUT_ANSWERS))
def test_an_answer_cut_off_mid_way_is_retried_and_the_push_goes_on(db, server, tmp_path, cut):
    """Before: requests' ChunkedEncodingError (or ContentDecodingError) out of a cut answer escaped
    the hook, and one such answer failed the whole push (issue 26, part 2)."""
    server.cut_first, server.cut = 2, cut
    result = run_day(db, settings=lenient(tmp_path, backoff_max_seconds=0.01))
    assert result["push"]["sent"] == 10 and result["push"]["retries"] == 2
    assert len(server.events) == 10 and set(server.counts().values()) == {1}
    assert server.requests == 10 + 2


# An API key full of characters that need encoding, each of its encodings different.
LEAKY_KEY = 'k3y-9Zq+/=&?% é"<>'


def key_encodings(key: str) -> set[str]:
    """The forms a proxy or server might echo a key in."""
    quoted = {urllib.parse.quote_plus(key), urllib.parse.quote(key, safe="")}
    lower = {re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), q) for q in quoted}
    return {key, *quoted, *lower, json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1], html.escape(key)}


@pytest.mark.parametrize("echo", [
    lambda raw: f"bad request: {raw}",
    lambda raw: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), raw),
    lambda raw: json.dumps(urllib.parse.parse_qs(raw)),
    lambda raw: json.dumps(urllib.parse.parse_qs(raw), ensure_ascii=False),
    lambda raw: f"<pre>{html.escape(urllib.parse.unquote_plus(raw))}</pre>",
    lambda raw: urllib.parse.quote(urllib.parse.unquote_plus(raw), safe=""),
], ids=["form", "lower-case-escapes", "json", "json-utf8", "html", "quoted"])
def test_an_echoed_request_leaves_no_encoding_of_the_api_key_anywhere(db, server, monkeypatch, tmp_path, caplog, echo):
    """Before: only the key as given was redacted from answers; a proxy echoing the form-encoded
    request put it in rejected_rows, the push journal and the log (issue 26, part 4)."""
    server.api_key = LEAKY_KEY
    monkeypatch.setenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", server.connection_json())
    server.reject, server.echo = (lambda event: True), echo
    with caplog.at_level(logging.DEBUG), pytest.raises(RejectGateError) as raised:
        run_day(db, report_dir=tmp_path / "reports")
    rows = [*query(db, "SELECT * FROM attribution.rejected_rows WHERE reason = 'amplitude_http_400'"),
            *query(db, "SELECT * FROM attribution.push_journal WHERE reject_reason = 'amplitude_http_400'")]
    reports = [f.read_text(errors="replace") for f in (tmp_path / "reports").rglob("*") if f.is_file()]
    kept = "\n".join([*(str(v) for r in rows for v in r.values()), caplog.text, str(raised.value), *reports])
    assert [form for form in key_encodings(LEAKY_KEY) if form in kept] == []
    assert "k3y-9Zq" not in kept  # nor any other form: each begins so
    assert len(rows) == 2 * 10 and all("<api key>" in r["response_body"] for r in rows)  # the echo was kept, redacted


def hook_and_sleeps(max_attempts=3):
    """A hook on the server's Connection whose waits between attempts are recorded, not slept."""
    sleeps: list[float] = []
    return AmplitudeAttributionHook(retry=RetryPolicy(max_attempts=max_attempts), sleep=sleeps.append), sleeps


def event(i=0):
    return {"event_type": "[Adjust] Install", "platform": "ios", "idfv": f"IDFV-{i:02d}", "time": 1_700_000_000_000}


def test_a_200_that_is_not_success_is_retried_until_success(server):
    # A captive portal answers 200 with its login page: the event never reached the API.
    server.unexpected_first = 2
    hook, sleeps = hook_and_sleeps(max_attempts=4)
    outcome = hook.send(event())
    assert (outcome.status, outcome.http_status, outcome.attempts, outcome.body) == ("sent", 200, 3, "success")
    assert hook.retries == 2 and len(sleeps) == 2  # with backoff, like a 503
    assert server.requests == 3 and server.events == [event()]  # acknowledged once, by the API


def test_a_200_html_page_every_time_is_failed_not_sent(server):
    server.unexpected_share = 1.0
    hook, _ = hook_and_sleeps(max_attempts=3)
    outcome = hook.send(event())
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", 200, 3)
    assert outcome.body.startswith("<html") and "captive portal" in outcome.body
    assert hook.retries == 2 and server.requests == 3 and server.events == []


@pytest.mark.parametrize("answer", [JSON_200, EMPTY_200], ids=["json", "empty"])
def test_a_200_with_json_or_an_empty_body_is_not_sent(server, answer):
    server.unexpected, server.unexpected_share = answer, 1.0
    hook, _ = hook_and_sleeps(max_attempts=2)
    outcome = hook.send(event())
    assert (outcome.status, outcome.http_status, outcome.attempts, outcome.body) == ("failed", 200, 2, answer[1])
    assert server.requests == 2 and server.events == []


@pytest.mark.parametrize("body", ["success\n", "  success \r\n", "SUCCESS", "Success"])
def test_success_in_any_case_and_spacing_is_sent(server, body):
    server.success_body = body
    hook, _ = hook_and_sleeps()
    outcome = hook.send(event())
    assert (outcome.status, outcome.attempts) == ("sent", 1) and hook.retries == 0
    assert server.events == [event()]


def test_too_many_unexpected_200s_in_a_row_stop_naming_connection_and_host(server):
    server.unexpected_share = 1.0
    hook, _ = hook_and_sleeps(max_attempts=3)
    with pytest.raises(AmplitudeUnexpectedAnswerError) as raised:
        for i in range(MAX_UNEXPECTED_IN_A_ROW):  # 3 attempts each: 10 in a row within 4 events
            assert hook.send(event(i)).status == "failed"
    assert isinstance(raised.value, AmplitudeStopError)
    assert server.requests == MAX_UNEXPECTED_IN_A_ROW  # counted across events, stopped at the limit
    message = str(raised.value)
    assert "amplitude_attribution" in message and f"{server.base_url}/attribution" in message
    assert "HTTP 200" in message and "text/html" in message and "'<html><body>" in message
    assert "captive portal" in message and "Connection's host" in message
    assert "test-key" not in message and server.events == []


def test_unexpected_200s_are_counted_across_sender_threads(server):
    # Each send sees only 2 unexpected answers; together the 8 senders see 16 in a row.
    server.unexpected_share = 1.0
    hook, _ = hook_and_sleeps(max_attempts=2)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(hook.send, event(i)) for i in range(8)]
    errors = [f.exception() for f in futures]
    assert any(isinstance(e, AmplitudeUnexpectedAnswerError) for e in errors)


def test_a_real_success_resets_the_unexpected_count(server):
    # Every other answer is a portal page: many in all, never MAX_UNEXPECTED_IN_A_ROW in a row.
    server.unexpected_share = 0.5
    hook, _ = hook_and_sleeps(max_attempts=3)
    outcomes = [hook.send(event(i)) for i in range(2 * MAX_UNEXPECTED_IN_A_ROW)]
    assert {o.status for o in outcomes} == {"sent"} and len(server.events) == 2 * MAX_UNEXPECTED_IN_A_ROW
    assert hook.retries >= MAX_UNEXPECTED_IN_A_ROW


def test_a_captive_portal_stops_the_push_and_nothing_is_marked_sent(db, server, tmp_path):
    server.unexpected_share = 1.0
    with pytest.raises(AmplitudeUnexpectedAnswerError) as raised:
        run_day(db, settings=lenient(tmp_path, max_in_flight=2, backoff_max_seconds=0.01))
    message = str(raised.value)
    assert f"{server.base_url}/attribution" in message and "amplitude_attribution" in message
    assert "test-key" not in message
    assert server.events == []
    assert server.requests <= MAX_UNEXPECTED_IN_A_ROW + 2 * 2  # and what the sender threads had started
    assert set(statuses(db).values()) - {"rejected"} == {"matched"}  # nothing taken as sent
    assert "amplitude_http_2" not in json.dumps(query(db, "SELECT reason FROM attribution.rejected_rows"))


def test_no_api_key_means_dry_run(db, monkeypatch, tmp_path):
    monkeypatch.delenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", raising=False)
    result = run_day(db, report_dir=tmp_path / "reports")
    assert result["push"]["dry_run"] is True and result["push"]["outbox_events"] == 10
    assert set(statuses(db).values()) == {"matched"}


def test_the_push_never_exceeds_the_rate_limit(db, server, tmp_path):
    settings = lenient(tmp_path, rate_limit_per_second=20)
    run_day(db, settings=settings)
    assert len(server.events) == 10
    gaps = sorted(b - a for a, b in zip(server.arrivals, server.arrivals[1:]))
    # Requests leave 1/20 s apart however fast the server answers. The server sees arrivals, and on
    # a busy machine a thread woken late delays one arrival, which shortens one gap and lengthens
    # the next: the median gap is the pace, whatever a few late wake-ups do. Without pacing the
    # gaps are about a millisecond; in bursts, half of them are; at twice the rate, 25 ms. So the
    # median must be over 30 ms: under `make test-busy` so many wake-ups are late that it was
    # 40 ms once, where a quiet machine shows 50.
    assert gaps[len(gaps) // 2] >= 0.6 / 20
    # the span from the second arrival (the first also opened the connection) to the last: eight
    # intervals, less one for a late second arrival
    assert server.arrivals[-1] - server.arrivals[1] >= 7 / 20


def test_the_reject_gate_fails_the_run_after_the_report_with_counts_and_reasons(db, server, tmp_path):
    from adjust_amplitude.pipeline import RejectGateError

    server.reject = lambda event: event.get("idfv") in ("IDFV-01", "IDFV-02")
    with pytest.raises(RejectGateError) as raised:
        run_day(db, report_dir=tmp_path / "reports")  # default max_reject_ratio: 1%
    message = str(raised.value)
    assert "refused 2 of 10 rows" in message  # the unsendable row made no request: not a refusal
    assert "amplitude_http_400 x2" in message and "no_sendable_identifier" not in message
    assert (tmp_path / "reports" / f"discrepancy_{DAY}.html").exists()
    assert len(server.events) == 8  # everything else was still sent


def test_push_partitions_split_the_rows_and_share_the_rate(db, server, tmp_path):
    settings = lenient(tmp_path, push_partitions=3, rate_limit_per_second=30)
    run = matched_run(db, settings)
    counted = pipeline.push_parts(run)
    assert [c["partition"] for c in counted] == [0, 1, 2] and sum(c["rows"] for c in counted) == 11  # with the unsendable row
    parts = [pipeline.push(run, c["partition"]) for c in counted]
    assert [p["considered"] for p in parts] == [c["rows"] for c in counted]  # each partition's count is what it had
    assert sum(p["sent"] for p in parts) == 10 and all(p["sent"] for p in parts)  # every partition had rows
    assert sorted(e["idfv"] for e in server.events) == [f"IDFV-{i:02d}" for i in range(10)]
    # each partition paces itself at a third of the limit (10/s): a partition with n requests
    # spends at least (n - 1) / 10 s on them
    busiest = max(parts, key=lambda p: p["sent"])
    assert busiest["seconds"] >= (busiest["sent"] - 1) / 10 - 0.02
    combined = pipeline.combine_push_stats(parts)
    assert combined["sent"] == 10 and combined["rejected"] == 1


def test_each_push_gets_a_time_limit_from_its_rows_and_its_share_of_the_rate(db, tmp_path):
    """The push task's pre_execute sets its execution_timeout before Airflow starts the clock: its
    partition's rows three times over at its share of the rate, plus 30 min and two claim lifetimes."""
    from types import SimpleNamespace

    settings = lenient(tmp_path, push_partitions=3, rate_limit_per_second=30)
    run = matched_run(db, settings)
    limits = []
    for part in pipeline.push_parts(run):
        # the mapped task as Airflow hands it to pre_execute: its arguments resolved
        task = SimpleNamespace(execution_timeout=dt.timedelta(hours=12), op_kwargs={"plan": run.plan.to_xcom(), "part": part})
        ti = SimpleNamespace(task=task)
        limit = push.limit_time({"ti": ti})
        assert ti.task.execution_timeout == limit
        # 30/s shared by 3 partitions: 10/s each; claim_ttl_seconds 600
        assert limit == dt.timedelta(seconds=math.ceil(3 * part["rows"] / 10 + 1800 + 2 * 600))
        limits.append(limit)
    assert len(set(limits)) > 1  # partitions with different rows get different limits
