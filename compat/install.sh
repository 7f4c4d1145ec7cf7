#!/usr/bin/env bash
# A venv for one supported Airflow, installed as a platform and a team would install it:
#   1. the platform: apache-airflow==VERSION with the packages of compat/airflow-VERSION.txt (its
#      image, frozen once by `make compat-lock`: a plain `pip install apache-airflow==VERSION`);
#   2. the team's step: `pip install -r requirements.txt` on top, with nothing holding pip back,
#      as Composer or the official image's Dockerfile run it. It must leave Airflow, its SDK and
#      SQLAlchemy exactly as they were, and `pip check` clean; what it added or changed is printed;
#   3. the test tools of requirements-test.txt, for `make test-compat`.
# Usage: compat/install.sh VERSION VENV PYTHON PIP_VERSION
set -euo pipefail
export LC_ALL=C  # one sort order for sort and comm
version=$1 venv=$2 python=$3 pip_version=$4
cd "$(dirname "$0")/.."
lock=compat/airflow-$version.txt
[ -f "$lock" ] || { echo "compat: no $lock; run 'make compat-lock COMPAT_AIRFLOW=$version'" >&2; exit 1; }
stamp=$venv/.installed
if [ -f "$stamp" ] && [ -z "$(find "$lock" requirements.txt requirements-test.txt "$0" -newer "$stamp")" ]; then
  echo "compat: $venv is up to date ($(cat "$stamp"))"; exit 0
fi
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install --quiet "pip==$pip_version"
"${pip[@]}" install --quiet "apache-airflow==$version" -c "$lock"
"${pip[@]}" freeze --all | sort > "$venv/platform.txt"
"${pip[@]}" install --quiet -r requirements.txt
"${pip[@]}" freeze --all | sort > "$venv/with-requirements.txt"
"${pip[@]}" check
kept='^(apache-airflow|apache-airflow-core|apache-airflow-task-sdk|sqlalchemy)=='
if ! diff <(grep -iE "$kept" "$venv/platform.txt") <(grep -iE "$kept" "$venv/with-requirements.txt"); then
  echo "compat: pip install -r requirements.txt changed Airflow or SQLAlchemy on Airflow $version (above)" >&2
  exit 1
fi
names() { sed "s/==.*//" "$1" | sort; }
added=$(comm -13 <(names "$venv/platform.txt") <(names "$venv/with-requirements.txt") | wc -l)
changed=$(comm -23 "$venv/platform.txt" "$venv/with-requirements.txt" | tr '\n' ' ')
summary="Airflow $version kept and pip check clean after requirements.txt, which added $added packages and changed the platform's ${changed:-none}"
echo "compat: $summary"
"${pip[@]}" install --quiet -r requirements-test.txt
"${pip[@]}" check
echo "$summary" > "$stamp"
