"""What a platform gets: requirements.txt (ranges on top of its Airflow, no test tool), the supported
Airflow range checked in one place, the package loading nothing by accident, and its SQL found with
nothing but the package deployed."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from project_files import REPO

PACKAGE = REPO / "plugins" / "adjust_amplitude"
TEST_TOOLS = {"pytest", "pytest-xdist", "pytest-httpserver", "hypothesis", "zetasql", "wasmtime", "aiosmtpd", "scipy",
              "numpy", "pandas"}


def requirements(path: Path) -> list[Requirement]:
    """The requirement lines of a pip requirements file (comments, options and -r lines left out)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def canonical(name: str) -> str:
    return name.lower().replace("_", "-")


def test_requirements_are_ranges_of_direct_dependencies_without_airflow_or_test_tools():
    reqs = requirements(REPO / "requirements.txt")
    names = {canonical(r.name) for r in reqs}
    assert not {n for n in names if n in ("apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk", "sqlalchemy")}
    assert not names & TEST_TOOLS
    for req in reqs:  # a range, closed above, never one version: platforms bring their own
        operators = {spec.operator for spec in req.specifier}
        assert "==" not in operators and "===" not in operators, req
        assert ">=" in operators and "<" in operators, f"{req}: give a floor and a ceiling"
    # Every third-party import of the package is a listed requirement (or comes with Airflow).
    imported = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m not in ("adjust_amplitude", "airflow")}
    # packaging, asgiref and pendulum come with Airflow (apache-airflow-core requires them)
    provided = {"google": "google-cloud-bigquery", "packaging": None, "asgiref": None, "pendulum": None}
    needed = {canonical(provided.get(m, m)) for m in third_party if provided.get(m, m)}
    assert needed <= names, f"imported but not in requirements.txt: {sorted(needed - names)}"
    assert {"apache-airflow-providers-slack", "apache-airflow-providers-smtp"} <= names


def test_the_pinned_dev_set_satisfies_every_range_and_pins_airflow():
    pins = {canonical(r.name): r for r in requirements(REPO / "requirements-dev.txt")}
    assert all(str(r.specifier).startswith("==") for r in pins.values())
    for req in requirements(REPO / "requirements.txt") + requirements(REPO / "requirements-test.txt"):
        pinned = next(iter(pins[canonical(req.name)].specifier)).version
        assert req.specifier.contains(pinned), f"requirements-dev.txt pins {req.name} {pinned}, outside {req}"
    assert {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"} <= set(pins)


@pytest.mark.parametrize("version, supported", [
    ("3.1.0", True), ("3.1.7", True), ("3.3.2", True), ("3.4.0b1", True), ("3.9.0", True), ("3.3.2+composer", True),
    ("3.0.6", False), ("2.10.5", False), ("4.0.0", False), ("garbage", False),
])
def test_the_supported_airflow_range_is_checked_in_one_place(version, supported):
    from adjust_amplitude.airflow_compat import UnsupportedAirflowError, check_airflow_version

    if supported:
        assert check_airflow_version(version) == version
    else:
        with pytest.raises(UnsupportedAirflowError, match=rf"supports Apache Airflow >=3.1,<4 .*this is Airflow {version}\."):
            check_airflow_version(version)


def test_an_unsupported_airflow_is_the_dags_one_clear_import_error(tmp_path):
    """The DAG file on an Airflow 2.10.5 (faked by its version string) fails to import with the sentence,
    as the UI shows import errors, not with a missing name deep in the code."""
    code = ("import airflow, runpy, sys; airflow.__version__ = '2.10.5'; "
            "runpy.run_path(sys.argv[1])")
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "dags" / "adjust_amplitude_attribution.py")],
                          capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "adjust_amplitude.airflow_compat.UnsupportedAirflowError: adjust-amplitude-sync supports Apache Airflow "
        ">=3.1,<4 (3.1 and newer 3.x); this is Airflow 2.10.5. Use a platform image of a supported Airflow "
        "(README: Deploy).")


LOADER = """
import json, sys
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
errors = getattr(plugins_manager, "import_errors", None)
if errors is None:
    errors = plugins_manager.get_import_errors()
print(json.dumps({"modules": sorted(sys.modules), "errors": {str(k): str(v) for k, v in errors.items()}}))
"""


def load_plugins(plugins: Path, **config: str) -> dict:
    """Airflow's own plugin loader over `plugins`, in a fresh process as a scheduler or worker runs it."""
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins), **config}
    env.pop("PYTHONPATH", None)  # what the platform gives: the plugins folder on sys.path, by Airflow
    done = subprocess.run([sys.executable, "-c", LOADER], capture_output=True, text=True, env=env, cwd=plugins)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def module_stems() -> set[str]:
    return {p.stem for p in PACKAGE.rglob("*.py")} - {"__init__"}


@pytest.mark.parametrize("syntax", ["glob", "regexp"])
def test_the_plugin_loader_imports_no_module_of_the_package_loose(syntax):
    loaded = load_plugins(REPO / "plugins", AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX=syntax)
    assert loaded["errors"] == {}
    loose = sorted(module_stems() & set(loaded["modules"]))
    assert loose == [], f"loaded as top-level modules: {loose}"
    assert not {m for m in loaded["modules"] if m.split(".")[0] in ("numpy", "pandas", "demo", "duckdb", "sqlglot")}


def test_without_its_airflowignore_the_loader_would_import_the_package_loose(tmp_path):
    """The control: the same folder without the ignore file is loaded file by file."""
    shutil.copytree(REPO / "plugins", tmp_path / "plugins", ignore=shutil.ignore_patterns(".airflowignore", "__pycache__"))
    loaded = load_plugins(tmp_path / "plugins")
    assert {"config", "pipeline", "push", "page"} <= set(loaded["modules"])


def test_dev_only_code_is_outside_the_package():
    """The demo and the sample generator (numpy, pandas) live in demo/, which no platform deploys."""
    assert not (PACKAGE / "demo.py").exists() and not (PACKAGE / "sample_warehouse.py").exists()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {m for m in names if m.split(".")[0] in ("demo", "numpy", "pandas")}, path


def test_the_sql_travels_with_the_package(tmp_path):
    """Only the package, copied where a platform's plugins folder is: every statement renders."""
    shutil.copytree(PACKAGE, tmp_path / "plugins" / "adjust_amplitude", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import json; from adjust_amplitude import sql_templates as s; "
            "print(json.dumps([str(s.SQL_DIR), len(s.statement_names()), len(s.render('create_dataset', dataset='`x`'))]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "plugins")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    sql_dir, count, length = json.loads(done.stdout)
    assert sql_dir == str((tmp_path / "plugins" / "adjust_amplitude" / "sql").resolve())
    assert count == len(list((PACKAGE / "sql").glob("*.sql"))) > 40 and length > 0


def test_no_warehouse_connection_fails_naming_it():
    from adjust_amplitude.warehouse import WarehouseError, warehouse_from_connection

    with pytest.raises(WarehouseError, match=r"Connection adjust_amplitude_warehouse is not set.*google_cloud_platform.*duckdb"):
        warehouse_from_connection()


def test_a_duckdb_connection_the_cli_stored_as_generic_names_the_fix():
    from adjust_amplitude.warehouse import WarehouseError
    from adjust_amplitude.warehouse.factory import warehouse_for

    with pytest.raises(WarehouseError, match=r"conn_type 'generic'.*--conn-type duckdb.*--conn-json"):
        warehouse_for("generic", "/tmp/warehouse.duckdb", {})


def test_astro_files_name_what_the_code_reads():
    """airflow_settings.yaml sets the Connections and the Variable the code reads, with valid settings;
    the Dockerfile starts from the Astro Runtime of a supported Airflow."""
    import re

    import yaml

    from adjust_amplitude.airflow_compat import check_airflow_version
    from adjust_amplitude.config import AMPLITUDE_CONN_ID, SETTINGS_VARIABLE, WAREHOUSE_CONN_ID, Settings
    from adjust_amplitude.warehouse.factory import warehouse_for
    from airflow.models.connection import Connection

    local = yaml.safe_load((REPO / "airflow_settings.yaml").read_text())["airflow"]
    connections = {c["conn_id"]: c for c in local["connections"]}
    assert set(connections) == {WAREHOUSE_CONN_ID, AMPLITUDE_CONN_ID}
    # Astro's CLI passes conn_type as --conn-type, which stores an unregistered type as "generic";
    # a conn_uri alone it passes as --conn-uri, which keeps it.
    warehouse = connections[WAREHOUSE_CONN_ID]
    assert set(warehouse) == {"conn_id", "conn_uri"}
    conn = Connection(conn_id=WAREHOUSE_CONN_ID, uri=warehouse["conn_uri"])
    assert str(warehouse_for(conn.conn_type, conn.host, conn.extra_dejson).path) == "/usr/local/airflow/include/warehouse.duckdb"
    (variable,) = local["variables"]
    assert variable["variable_name"] == SETTINGS_VARIABLE
    Settings.from_mapping(json.loads(variable["variable_value"]))
    runtime = re.search(r"^FROM astrocrpublic\.azurecr\.io/runtime:(\d+\.\d+)-\d+$", (REPO / "Dockerfile").read_text(), re.M)
    assert runtime and check_airflow_version(runtime.group(1) + ".0")
    assert ".venv" in (REPO / ".dockerignore").read_text().split()
