#!/usr/bin/env bash
# Create bench/.agno-venv (system python3.11) with agno 3.1.10 for bench/agno_side.py.
# Idempotent: the stamp file records the installed requirement set; if it matches, nothing
# is done. If it is missing or different, the venv is rebuilt from scratch.
#
# Requirements, found by trying in a clean venv: agno's SqliteDb needs `sqlalchemy` (not an agno
# dependency) and `greenlet` (agno.db.sqlite imports sqlalchemy.ext.asyncio on import, and
# SQLAlchemy 2.1 no longer pulls greenlet in). `aiosqlite` is only for AsyncSqliteDb: not needed.
# Pinned: agno 3.1.10 is the version whose behaviour this project was compared with.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.agno-venv
STAMP="$VENV/.installed"
REQS="agno==3.1.10 sqlalchemy==2.1.9 greenlet==3.5.6"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$REQS" ]]; then
  echo "agno venv up to date: bench/$VENV ($REQS)"
  exit 0
fi

PY=/usr/bin/python3.11
[[ -x "$PY" ]] || PY="$(command -v python3.11)"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $REQS
"$VENV/bin/python" -c "import agno.db.sqlite, agno.workflow; from importlib.metadata import version; print('installed agno', version('agno'))"
echo "$REQS" > "$STAMP"
