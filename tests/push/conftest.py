"""The loopback Attribution API the push tests send to, reached through the Amplitude Connection."""

from __future__ import annotations

import pytest

from attribution_server import AttributionServer


@pytest.fixture
def server(monkeypatch):
    with AttributionServer() as srv:
        monkeypatch.setenv("AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION", srv.connection_json())
        yield srv
