"""The one mark of an error that a retry cannot change.

A refused input, an invalid setting or Connection, a gate that judged the day: the same run would
give the same answer on every retry, each some minutes later (the DAG's retries back off 2, 4, 8
minutes). Such errors derive from `NotRetryable`, which is Airflow's `AirflowFailException`: the
task fails at once, with the error's own message, and Airflow does not retry it. Everything else
(the network, a warehouse's 5xx, a serialisation conflict, a push that ran out of retries) stays a
plain exception and keeps the task's retries.
"""

from __future__ import annotations

# The class the task runner catches to fail a task without retrying it: the Task SDK's from
# Airflow 3.2 (airflow.exceptions re-exports it there, with a deprecation warning), airflow.exceptions' on 3.1.
try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowFailException


class NotRetryable(AirflowFailException):
    """Mixed into each error a retry cannot change; see the module's docstring."""
