# Driftdesk application image: web (gunicorn), Celery workers, beat and management commands.
#   docker build -f docker/app.Dockerfile .                      CPU build of torch (default)
#   docker build -f docker/app.Dockerfile --build-arg TORCH=cuda .  CUDA build, for GPU embedding workers
# Python 3.11 from Debian bookworm: the version the project and its pinned wheels target.
ARG TORCH=cpu

FROM debian:bookworm-slim AS build
ARG TORCH
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /src/requirements.txt
# docker/build-context/ is git-ignored and normally empty. Machines behind a TLS-intercepting proxy put
# the proxy's CA bundle there as ca.pem, and may put wheels (e.g. the CPU build of torch) in wheels/.
# This stage is thrown away: neither the bundle nor the wheels reach the final image.
COPY docker/build-context/ /build-context/
RUN set -eu; \
    if [ -s /build-context/ca.pem ]; then export PIP_CERT=/build-context/ca.pem; fi; \
    extra=""; \
    if [ "$TORCH" = cpu ]; then \
      if ls /build-context/wheels/torch-*.whl >/dev/null 2>&1; then extra="--find-links /build-context/wheels"; \
      else extra="--extra-index-url https://download.pytorch.org/whl/cpu"; fi; \
    elif [ "$TORCH" != cuda ]; then echo "TORCH must be cpu or cuda, got $TORCH" >&2; exit 1; fi; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check $extra -r /src/requirements.txt; \
    /opt/venv/bin/python -c "import torch; print('torch', torch.__version__)"
COPY . /src
RUN rm -rf /src/docker/build-context

FROM debian:bookworm-slim
# Runtime libraries only: Python, WeasyPrint's pango and fonts (PDF reports), tini as PID 1.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 ca-certificates libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/driftdesk --uid 10001 driftdesk
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /src /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=drift_app.settings.base \
    HF_HUB_OFFLINE=1 \
    STATIC_ROOT=/app/staticfiles
# Static files are collected at build time; the settings need their required variables even then,
# so this one command gets placeholders (nothing connects to them).
RUN DATABASE_URL=postgres://build@127.0.0.1:1/build CELERY_BROKER_URL=redis://127.0.0.1:1/0 \
    CACHE_URL=redis://127.0.0.1:1/1 SECRET_KEY=build-only ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput -v 0 \
 && chown -R driftdesk /app/staticfiles
USER driftdesk
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/entrypoint.sh"]
CMD ["web"]
