"""`make mwaa`: what Amazon MWAA takes from its S3 bucket, built from this checkout.

    dist/mwaa/plugins.zip      the package adjust_amplitude at the zip's root, its SQL and its
                               .airflowignore included, no __pycache__; unpacked by MWAA into
                               /usr/local/airflow/plugins
    dist/mwaa/requirements.txt requirements.txt behind the --constraint line of the environment's
                               Airflow and Python, as MWAA wants it, and s3fs, which report_dir in
                               s3:// needs beside MWAA's Amazon provider
    dist/mwaa/dags/            the DAG files

The zip is the same bytes for the same files (fixed timestamps, sorted entries), so an unchanged
bundle does not make MWAA restart its workers for a new plugins.zip version.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"


def package_files(root: Path) -> list[Path]:
    """The files of the package under `root` (the plugins folder), as a platform needs them."""
    return sorted(p for p in (root / "adjust_amplitude").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def write_plugins_zip(out: Path, plugins: Path = REPO / "plugins") -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in package_files(plugins):
            info = zipfile.ZipInfo(path.relative_to(plugins).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def write_requirements(out: Path, airflow: str, python: str) -> None:
    header = (f'--constraint "{CONSTRAINTS_URL.format(airflow=airflow, python=python)}"\n'
              f"# Built by make mwaa from requirements.txt for Airflow {airflow} on Python {python}.\n")
    extra = "s3fs  # report_dir in s3:// (MWAA has the Amazon provider; the constraint line pins s3fs)\n"
    out.write_text(header + (REPO / "requirements.txt").read_text() + extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "mwaa")
    parser.add_argument("--airflow", required=True, help="the environment's Airflow version, e.g. 3.3.1")
    parser.add_argument("--python", required=True, help="its Python version, e.g. 3.12")
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "dags").mkdir(parents=True)
    write_plugins_zip(args.out / "plugins.zip")
    write_requirements(args.out / "requirements.txt", args.airflow, args.python)
    for dag in sorted((REPO / "dags").glob("*.py")):
        shutil.copy(dag, args.out / "dags" / dag.name)
    print(f"MWAA bundle for Airflow {args.airflow} (Python {args.python}) in {args.out}: upload plugins.zip and "
          f"requirements.txt to the bucket's root, dags/ to its DAG folder (docs/deploy.md: MWAA)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
