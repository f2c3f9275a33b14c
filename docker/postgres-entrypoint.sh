#!/bin/sh
# First start: initdb; two login roles for Driftdesk with passwords from the env file: the OWNER
# (DRIFTDESK_DB_OWNER_ROLE, owns the database and every table, runs migrations) and the RUNTIME role
# (DRIFTDESK_DB_RUNTIME_ROLE, what web, workers and beat connect as; `manage.py db_roles`, run by the
# migrate service, grants it its least privileges); the `vector` extension, created here as the
# superuser so that neither role needs superuser rights. The superuser `postgres` has no password and
# may only connect over the container's own socket (peer authentication). Every start: postgres in the
# foreground, listening on POSTGRES_LISTEN (the container's network only, by default).
set -eu
: "${POSTGRES_DB:?POSTGRES_DB must be set}"
owner="${DRIFTDESK_DB_OWNER_ROLE:-driftdesk_owner}"
runtime="${DRIFTDESK_DB_RUNTIME_ROLE:-driftdesk_app}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${DRIFTDESK_DB_OWNER_PASSWORD:-}" ]; then echo "DRIFTDESK_DB_OWNER_PASSWORD must be set" >&2; exit 1; fi
  if [ -z "${DRIFTDESK_DB_RUNTIME_PASSWORD:-}" ]; then echo "DRIFTDESK_DB_RUNTIME_PASSWORD must be set" >&2; exit 1; fi
  if [ "$owner" = "$runtime" ]; then echo "the owner and the runtime role must differ" >&2; exit 1; fi
  initdb -D "$PGDATA" --username=postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8 >/dev/null
  # Over the network: never the superuser; the two roles with their passwords.
  printf '%s\n' "host all postgres all reject" "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /run/postgresql" -w start >/dev/null
  # Passwords reach psql from its environment (\getenv, quoted by :'var'), never on a command line.
  psql -v ON_ERROR_STOP=1 -h /run/postgresql -U postgres -d postgres -v db="$POSTGRES_DB" \
    -v owner="$owner" -v runtime="$runtime" <<'SQL' >/dev/null
\getenv owner_pass DRIFTDESK_DB_OWNER_PASSWORD
\getenv runtime_pass DRIFTDESK_DB_RUNTIME_PASSWORD
CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_pass';
CREATE ROLE :"runtime" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'runtime_pass';
CREATE DATABASE :"db" OWNER :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"runtime";
\c :"db"
CREATE EXTENSION IF NOT EXISTS vector;
SQL
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -k /run/postgresql \
  -c listen_addresses="${POSTGRES_LISTEN:-*}" -c port="${POSTGRES_PORT:-5432}" \
  -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}" -c shared_buffers="${POSTGRES_SHARED_BUFFERS:-256MB}"
