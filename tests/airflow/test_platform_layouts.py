"""The files laid out exactly as each platform lays them out, and nothing else, then `airflow dags
test` of a generated day against the loopback Attribution API: each must send the day's matched
rows once and write its report where the settings say.

- Cloud Composer 3: dags/ and plugins/ copied to two separate folders of the bucket's mount
  (/home/airflow/gcs/dags and /home/airflow/gcs/plugins), reports under its data/ folder; and the
  package imported into the DAG folder instead of plugins/.
- MWAA: the DAG folder plus plugins.zip (as `make mwaa` builds it) unpacked in
  /usr/local/airflow/plugins; report_dir left at its default (under AIRFLOW_HOME).
- Astro: the whole project as the image build copies it (.dockerignore applied) under
  /usr/local/airflow, which is AIRFLOW_HOME.
- The official image with docker-compose: dags/ and plugins/ mounted under /opt/airflow.

Each process starts with no PYTHONPATH and in a working folder of its own: only what Airflow puts on
sys.path (the DAG and plugins folders) can be imported. `make test` parses each layout's DAG folder
on the pinned Airflow; `make test-compat` also runs the day in each, on the oldest and the newest
supported Airflow.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pathspec
import pytest

from airflow_runs import airflow
from attribution_server import AttributionServer
from project_files import REPO
from demo.sample_warehouse import write_warehouse
from pipeline_helpers import expected_statuses, query

pytestmark = pytest.mark.slow  # `airflow dags test` in each platform's layout

DAY = dt.date(2026, 11, 16)
DAG_ID = "adjust_amplitude_attribution"


def copy_dags(to: Path) -> None:
    to.mkdir(parents=True)
    for dag in (REPO / "dags").glob("*.py"):
        shutil.copy(dag, to / dag.name)


def composer(root: Path) -> dict[str, Path]:
    gcs = root / "home" / "airflow" / "gcs"
    copy_dags(gcs / "dags")
    shutil.copytree(REPO / "plugins", gcs / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    (gcs / "data").mkdir()
    return {"home": root / "home" / "airflow" / "airflow", "dags": gcs / "dags", "plugins": gcs / "plugins",
            "reports": gcs / "data" / "reports"}


def composer_dags_only(root: Path) -> dict[str, Path]:
    """Composer with the package imported into the DAG folder instead (docs/deploy.md: where a DAG
    processor does not see plugins/): its .airflowignore keeps the DAG processor off its files."""
    gcs = root / "home" / "airflow" / "gcs"
    copy_dags(gcs / "dags")
    shutil.copytree(REPO / "plugins" / "adjust_amplitude", gcs / "dags" / "adjust_amplitude",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (gcs / "plugins").mkdir()
    (gcs / "data").mkdir()
    return {"home": root / "home" / "airflow" / "airflow", "dags": gcs / "dags", "plugins": gcs / "plugins",
            "reports": gcs / "data" / "reports"}


def mwaa(root: Path) -> dict[str, Path]:
    home = root / "usr" / "local" / "airflow"
    bundle = root / "bundle"
    done = subprocess.run([sys.executable, str(REPO / "deploy" / "mwaa_bundle.py"), "--out", str(bundle),
                           "--airflow", "3.3.1", "--python", "3.12"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.copytree(bundle / "dags", home / "dags")
    with zipfile.ZipFile(bundle / "plugins.zip") as archive:
        archive.extractall(home / "plugins")
    return {"home": home, "dags": home / "dags", "plugins": home / "plugins", "reports": None}


def astro(root: Path) -> dict[str, Path]:
    home = root / "usr" / "local" / "airflow"
    # .dockerignore's patterns, read as the gitignore-like patterns they are here (no negations).
    style = "gitignore" if "gitignore" in pathspec.util._registered_patterns else "gitwildmatch"
    ignored = pathspec.PathSpec.from_lines(style, (REPO / ".dockerignore").read_text().splitlines())
    for path in sorted(REPO.rglob("*")):
        relative = path.relative_to(REPO)
        if path.is_file() and not any(ignored.match_file(str(p)) for p in [relative, *relative.parents][:-1]):
            (home / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, home / relative)
    return {"home": home, "dags": home / "dags", "plugins": home / "plugins", "reports": None}


def official_image(root: Path) -> dict[str, Path]:
    home = root / "opt" / "airflow"
    copy_dags(home / "dags")
    shutil.copytree(REPO / "plugins", home / "plugins", ignore=shutil.ignore_patterns("__pycache__"))
    return {"home": home, "dags": home / "dags", "plugins": home / "plugins", "reports": None}


# The DAG processor's own parse of a bundle (the DAG folder): it puts the folder on sys.path.
PARSE = """
import json, sys
from pathlib import Path
try:
    from airflow.dag_processing.dagbag import BundleDagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import BundleDagBag
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]), load_op_links=False)
print(json.dumps({"dags": sorted(bag.dags), "errors": {str(k): str(v)[-500:] for k, v in bag.import_errors.items()}}))
"""

LAYOUTS = {"composer": composer, "composer_dags_only": composer_dags_only, "mwaa": mwaa, "astro": astro, "official_image": official_image}


def lay_out(platform: str, airflow_home: Path, tmp_path: Path) -> tuple[dict[str, Path], Path, dict[str, str], Path]:
    """The platform's files, its Airflow home with a migrated database, a generated day in a
    warehouse, and the environment of a process started there: no PYTHONPATH, no settings of ours."""
    root = tmp_path / "platform"
    layout = LAYOUTS[platform](root)
    home = layout["home"]
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(airflow_home / "airflow.pristine.db", home / "airflow.db")
    db = tmp_path / "warehouse.duckdb"
    write_warehouse(db, DAY, 1, scale=120, seed=3)
    settings = {"max_invalid_ratio": 0.2}  # a tiny generated day holds a few malformed rows
    if layout["reports"]:
        settings["report_dir"] = str(layout["reports"])
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW__CORE__")) and k != "PYTHONPATH"}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(layout["dags"]),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(layout["plugins"]), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_ADJUST_AMPLITUDE_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(db)}),
        "AIRFLOW_VAR_ADJUST_AMPLITUDE_SETTINGS": json.dumps(settings),
    })
    return layout, db, env, workdir


@pytest.mark.parametrize("platform", sorted(LAYOUTS))
def test_the_dag_folder_parses_as_the_platform_lays_it_out(platform, airflow_home, tmp_path):
    """What the DAG processor parses in the DAG folder: the one DAG, and no import error (no package
    file taken for a DAG file, no module missing without PYTHONPATH)."""
    layout, _, env, workdir = lay_out(platform, airflow_home, tmp_path)
    parsed = subprocess.run([sys.executable, "-c", PARSE, str(layout["dags"])], capture_output=True, text=True,
                            env=env, cwd=workdir)
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    assert json.loads(parsed.stdout.strip().splitlines()[-1]) == {"dags": [DAG_ID], "errors": {}}


# About 20 s each: `make test-compat` runs them on the oldest and the newest supported Airflow (CI:
# the oldest), `make test` leaves them out (marker `layout`).
@pytest.mark.layout
@pytest.mark.parametrize("platform", sorted(LAYOUTS))
def test_the_day_runs_as_the_platform_lays_the_files_out(platform, airflow_home, tmp_path):
    layout, db, env, workdir = lay_out(platform, airflow_home, tmp_path)
    reports = layout["reports"] or layout["home"] / "reports"  # the default: "reports" under AIRFLOW_HOME
    with AttributionServer() as server:
        env["AIRFLOW_CONN_AMPLITUDE_ATTRIBUTION"] = server.connection_json()
        airflow("dags", "test", DAG_ID, DAY.isoformat(), env=env, cwd=workdir)
    expected = expected_statuses(db, DAY)
    ledger = {r["row_key"]: r["status"] for r in query(db, "SELECT row_key, status FROM attribution.sync_ledger")}
    assert ledger == expected
    sent = sum(status == "sent" for status in expected.values())
    assert sent > 10 and len(server.events) == sent and set(server.counts().values()) == {1}
    assert (reports / f"discrepancy_{DAY}.json").exists() and (reports / "index.html").exists()
