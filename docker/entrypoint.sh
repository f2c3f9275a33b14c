#!/bin/sh
# One image, several roles: web | worker-default | worker-embeddings | beat | migrate | manage ARGS...
set -eu
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
  web)
    # gunicorn's workers share their metrics through files (prometheus-client multiprocess mode),
    # emptied at every start.
    export PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
    rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    # No gunicorn access log: Django writes one JSON line per request, with its request id.
    exec gunicorn drift_app.wsgi:application --bind "${WEB_BIND:-0.0.0.0:8000}" \
      --workers "${WEB_CONCURRENCY:-2}" --timeout "${WEB_TIMEOUT:-120}" \
      --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" "$@" ;;
  worker-default)
    exec celery -A drift_app.celery worker -Q default --concurrency "${WORKER_CONCURRENCY:-2}" \
      --hostname "default@%h" --loglevel "${LOG_LEVEL:-INFO}" "$@" ;;
  worker-embeddings)
    # One process per worker: the encoder already uses every core (or the GPU); more processes would
    # only load more copies of the model.
    exec celery -A drift_app.celery worker -Q embeddings --concurrency "${EMBED_CONCURRENCY:-1}" \
      --hostname "embeddings@%h" --loglevel "${LOG_LEVEL:-INFO}" "$@" ;;
  beat)
    exec celery -A drift_app.celery beat --loglevel "${LOG_LEVEL:-INFO}" \
      --schedule /tmp/celerybeat-schedule "$@" ;;
  migrate)
    # As the OWNER role (DATABASE_OWNER_URL): the tables it creates are its own; then the runtime role
    # (DATABASE_URL's user in every other service) gets its least privileges on them (drift_app/dbroles.py).
    if [ -z "${DATABASE_OWNER_URL:-}" ]; then echo "DATABASE_OWNER_URL must be set for migrate" >&2; exit 1; fi
    export DATABASE_URL="$DATABASE_OWNER_URL"
    python manage.py migrate --noinput "$@"
    # Role names: DRIFTDESK_DB_OWNER_ROLE / DRIFTDESK_DB_RUNTIME_ROLE, as the database image used.
    exec python manage.py db_roles ;;
  manage)
    exec python manage.py "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
