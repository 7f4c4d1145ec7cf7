"""Telling people about a report: email through the SMTP provider's notifier and its SMTP
Connection, Slack through the Slack provider's incoming-webhook notifier and its Connection.

Each message of a report ('report', and 'alert' when it raised alerts) goes to each target once:
the run claims it in notification_log first (claim_notifications), so a retried task sends only
what was not told and two runs of one day never both send it. A target that fails is retried with
backoff, then recorded as failed; it never fails the data run (a later run of the day tries it
again). The warehouse is not held while messages go out: sending can take minutes.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from adjust_amplitude.config import NotifyTarget, Settings
from adjust_amplitude.report.notice import email_html, failure_notice, slack_text
from adjust_amplitude.run import Plan, Run

log = logging.getLogger(__name__)

ERROR_LIMIT = 500
_URL_PATH = re.compile(r"(\w+://[^/\s'\"]+)/[^\s'\")>]*")


def notify_targets(run: Run, notices: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Send each message to its targets. Returns one outcome per message and target: told (now or
    before), by which run, after how many attempts, and the last error."""
    s = run.settings
    # Every message but the daily report is an alert (an alert, a failure), for only_alerts targets too.
    wanted = {kind: [t for t in s.notify if kind != "report" or not t.only_alerts]
              for kind, notice in notices.items() if notice}
    wanted = {kind: targets for kind, targets in wanted.items() if targets}
    # A run asked to be dry sends nothing; telling its report would also use up the day's one
    # message before the real run.
    why = ("a dry run sends nothing" if run.dry_run else "Param notify is off" if not run.plan.notify
           else None if wanted else "no notify target")
    if why:
        for notice in filter(None, notices.values()):
            # What a target would be told, so that it can be read before anyone is told.
            log.info("Not told (%s): %s\n%s", why, notice["subject"], "\n".join(notice["lines"]))
        if not any(notices.values()):
            log.info("No notification for %s: no window closed in this run", run.day)
        return []
    owner = run.claim_owner("notify")
    pending = [(kind, target) for kind, targets in wanted.items() for target in targets]
    state, claimed_at = claim(run, pending, owner)
    outcomes = []
    for i, (kind, target) in enumerate(pending):
        if time.time() - claimed_at + s.notify_seconds >= s.claim_ttl_seconds:
            # The claims of what is still to send would lapse during this message (slow targets
            # before it): renew them first, or another run could send them too.
            state, claimed_at = claim(run, pending[i:], owner)
        row = state[kind, target.label]
        if row["claimed_by"] != owner or row["status"] != "sending":
            told = row["status"] == "told"
            log.info("%s of %s to %s: %s by run %s", kind, run.day, target.label,
                     "told already" if told else "being sent", row["run_id"])
            outcomes.append({"message": kind, "target": target.label, "told": told, "sent_now": False,
                             "run_id": row["run_id"], "attempts": int(row["attempts"]), "error": row["error"]})
            continue
        told, attempts, error = deliver(target, notices[kind], s)
        with run.warehouse.session() as wh:
            wh.run("record_notification", {
                "report_day": run.day, "target": target.label, "message": kind, "claimed_by": owner,
                "status": "told" if told else "failed", "attempts": attempts, "subject": notices[kind]["subject"],
                "error": error,
            }, t=run.t)
        outcomes.append({"message": kind, "target": target.label, "told": told, "sent_now": told,
                         "run_id": run.run_id, "attempts": attempts, "error": error})
    return outcomes


def claim(run: Run, pending: list[tuple[str, NotifyTarget]], owner: str) -> tuple[dict[tuple[str, str], dict], int]:
    """Claim each (message, target) of `pending` (one statement per message), then read where the
    report's messages stand. Returns that, by (message, target), and the time of the claim."""
    now = int(time.time())
    by_kind: dict[str, list[str]] = {}
    for kind, target in pending:
        by_kind.setdefault(kind, []).append(target.label)
    with run.warehouse.session() as wh:
        for kind, labels in by_kind.items():
            wh.run("claim_notifications", {
                "report_day": run.day, "message": kind, "targets": labels, "run_id": run.run_id, "claimed_by": owner,
                "claim_prefix": f"{run.run_id}|notify|", "now": now, "claim_ttl_seconds": int(run.settings.claim_ttl_seconds),
            }, t=run.t)
        rows = wh.fetch("select_notifications", {"report_day": run.day}, t=run.t)
    return {(r["message"], r["target"]): r for r in rows}, now


def deliver(target: NotifyTarget, notice: dict[str, Any], settings: Settings) -> tuple[bool, int, str | None]:
    """Send one message, retrying with backoff. Returns (told, attempts, last error)."""
    error = None
    for attempt in range(1, settings.notify_attempts + 1):
        try:
            send(target, notice, settings)
            log.info("Told %s: %s", target.label, notice["subject"])
            return True, attempt, None
        except Exception as exc:  # any failure of a target is logged and retried, never raised
            error = describe(exc)
            log.warning("Notifying %s failed (attempt %d of %d): %s", target.label, attempt, settings.notify_attempts, error)
            if attempt < settings.notify_attempts:
                time.sleep(settings.notify_backoff_seconds * 2 ** (attempt - 1))
    log.error("Could not tell %s after %d attempts; recorded as failed in notification_log", target.label,
              settings.notify_attempts)
    return False, settings.notify_attempts, error


def send(target: NotifyTarget, notice: dict[str, Any], settings: Settings) -> None:
    """One attempt, through the provider's notifier. notify() is called directly, not the notifier
    itself: calling it would render the message as a Jinja template, and names come from data."""
    if target.type == "email":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        SmtpNotifier(to=list(target.to), subject=notice["subject"], html_content=email_html(notice),
                     smtp_conn_id=target.conn_id).notify({})
    else:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        # No retry handlers of slack_sdk's own: deliver() retries with backoff, and slack_sdk logs
        # the webhook's URL, secret and all, when it retries.
        SlackWebhookNotifier(slack_webhook_conn_id=target.conn_id, text=slack_text(notice), unfurl_links=False,
                             timeout=settings.notify_timeout_seconds, retry_handlers=[]).notify({})


def describe(exc: BaseException) -> str:
    """An error as logs and notification_log show it: a webhook URL carries its secret in its
    path, so every URL is cut to its host."""
    text = _URL_PATH.sub(r"\1/…", f"{type(exc).__name__}: {exc}")
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


def task_failed(context: dict[str, Any]) -> None:
    """The DAG's on_failure_callback: tell the notify targets that a task failed for good (its
    retries spent, or an error no retry can change), once per run and target, through the report's
    notifiers. Never raises: a callback's error would hide the task's own."""
    try:
        _tell_failure(context)
    except Exception as exc:  # noqa: BLE001  the failure is in the task's log either way
        log.error("Could not tell the notify targets that %s failed: %s", context["ti"].task_id, describe(exc))


def _tell_failure(context: dict[str, Any]) -> None:
    from adjust_amplitude.run_day import day_from_context

    ti = context["ti"]
    day = day_from_context(context)
    mapped = ti.map_index is not None and ti.map_index >= 0  # -1 (or None) when the task is not mapped
    task = f"{ti.task_id}[{ti.map_index}]" if mapped else ti.task_id
    error = context.get("exception")
    # Airflow 3.1 does not hand the error to callbacks (3.2 puts it in the context).
    first = describe(error).splitlines()[0] if error else "its error is in the task's log"
    notice = failure_notice(day.isoformat(), task, first, ti.log_url)
    # The settings as the run would read them: a run whose plan_day failed has no plan to read.
    plan = Plan.from_params(day, context["run_id"], context["params"])
    tell(plan, f"failure {context['run_id']}", notice)  # once per run and target (notification_log's key is the day and the message)


def tell(plan: Plan, kind: str, notice: dict[str, Any]) -> None:
    """Tell one message of a run that is not a report (a failure, a missed deadline) to every
    target, once per target through notification_log; without it when the warehouse is what fails."""
    try:
        notify_targets(Run(plan), {kind: notice})
    except Exception as exc:  # noqa: BLE001  the warehouse may be what failed: tell without the log
        log.warning("notification_log could not be used (%s): telling each target without it", describe(exc))
        if plan.dry_run or not plan.notify:
            return
        for target in plan.settings.notify:
            deliver(target, notice, plan.settings)
