"""One day's run in this process, step by step in the DAG's order, without Airflow: what the tests
and the benchmarks run (the DAG file wires the same steps as tasks).

Like each task, each step gets a Run of its own, made from the plan with a warehouse of its own, so
nothing but the steps' data passes from one to the next. A step's warehouse usage and seconds are
kept as the DAG keeps them (run.Run.usage), and the run record gets them the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from adjust_amplitude import pipeline
from adjust_amplitude.notify import notify_targets
from adjust_amplitude.run import Plan, Run
from adjust_amplitude.warehouse import Warehouse


class LocalRun:
    """The steps of `plan`'s day. `warehouse(step)` gives each step its warehouse (the Connection's
    when not given); `hook` stands in for the Attribution API client of every push."""

    def __init__(self, plan: Plan, warehouse: Callable[[str], Warehouse] | None = None, hook=None) -> None:
        self.plan = plan
        self.warehouse = warehouse
        self.hook = hook
        self.usage: list[dict[str, Any]] = []
        self.seconds: dict[str, float] = {}

    def __call__(self) -> dict[str, Any]:
        """Every step; returns what the run left: as_of, the push's figures, the run record, the
        report's files and what the notify targets were told."""
        steps = self.steps()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def steps(self) -> Iterator[str]:
        """The run one step at a time: yields each step's name once it is done, and returns what
        __call__ does, so that a test can interleave two runs' steps as overlapping runs do."""

        def check(run: Run) -> dict[str, Any]:
            inputs = pipeline.check_inputs(run)
            pipeline.prepare_outputs(run)
            return inputs

        def match(run: Run) -> list[dict[str, int]]:
            pipeline.match_and_close(run, newest)
            return pipeline.push_parts(run)

        inputs = self._step("check_inputs", check)
        yield "check_inputs"
        counts = self._step("stage_adjust_rows", lambda run: pipeline.stage_rows(run, inputs))
        yield "stage_adjust_rows"
        newest = self._step("update_amplitude_index", pipeline.update_amplitude_index)["newest_event_seconds"]
        yield "update_amplitude_index"
        parts = self._step("match_and_close_windows", match)
        yield "match_and_close_windows"
        pushed = []
        for part in parts:
            name = f"push_to_amplitude[{part['partition']}]"
            pushed.append(self._step(name, lambda run: pipeline.push(run, part["partition"], self.hook)))
            yield name
        usage = list(self.usage)
        record = self._step("summarise_run", lambda run: pipeline.summarise(run, newest, pushed, counts, usage))
        yield "summarise_run"
        report = self._step("write_report", lambda run: pipeline.write_report(run, record))
        yield "write_report"
        notified = self._step("notify_targets", lambda run: notify_targets(run, report["notices"]))
        yield "notify_targets"
        self._step("check_reject_gate", lambda run: pipeline.check_reject_gate(run, record))
        self._step("check_validation_gate", lambda run: pipeline.check_validation_gate(run, record))
        return {"as_of": record["as_of"], "push": record["push"], "record": record, "paths": report, "notified": notified}

    def _step(self, name: str, work: Callable[[Run], Any]) -> Any:
        run = Run(self.plan, self.warehouse(name) if self.warehouse else None)
        started = time.perf_counter()
        result = work(run)
        self.seconds[name] = time.perf_counter() - started
        self.usage.append(run.usage(name))
        return result
