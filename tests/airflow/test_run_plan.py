"""The run's Plan: made once from the DAG's Params and the settings Variable, frozen, and the same
after a trip through XCom (JSON) as before it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from adjust_amplitude.config import NotifyTarget, Settings
from adjust_amplitude.run import Plan

DAY = dt.date(2026, 11, 20)


def test_a_plan_is_the_same_after_a_trip_through_xcom():
    settings = Settings(lookback_days=4, notify=(NotifyTarget("slack", "marketing_slack"),),
                        user_properties=(("network_name", "[Adjust] network"),), report_deadline_utc=None)
    plan = Plan(DAY, "scheduled__2026-11-21T00:00:00+00:00", settings, dry_run=True, notify=False,
                rebuild_amplitude_index=True, planned_at=1_790_000_000)
    # What Airflow's XCom keeps is JSON: nothing but its types may be in it.
    carried = json.loads(json.dumps(plan.to_xcom()))
    assert Plan.from_xcom(carried) == plan
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.dry_run = False  # type: ignore[misc]


def test_a_plan_from_params_reads_the_variable_once_with_the_lookback_param_over_it(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS", json.dumps({"lookback_days": 3, "window_hours": 48}))
    plan = Plan.from_params(DAY, "manual__x", {"dry_run": True, "lookback_days": 5, "notify": False})
    assert (plan.settings.lookback_days, plan.settings.window_hours) == (5, 48)
    assert (plan.dry_run, plan.notify, plan.rebuild_amplitude_index) == (True, False, False)
    # A run's conf holds only what was given: the Params' defaults apply to the rest.
    plan = Plan.from_params(DAY, "manual__y", {})
    assert (plan.settings.lookback_days, plan.dry_run, plan.notify) == (3, False, True)
