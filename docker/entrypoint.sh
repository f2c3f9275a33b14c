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
    exec python manage.py migrate --noinput "$@" ;;
  manage)
    exec python manage.py "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
