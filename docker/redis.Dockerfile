# Redis from Debian trixie: the Celery broker (db 0) and the shared cache (db 1).
FROM debian:trixie-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data
USER redis
VOLUME /data
# Append-only file: queued tasks survive a restart of the broker.
CMD ["sh", "-c", "exec redis-server --dir /data --appendonly yes --protected-mode no --bind ${REDIS_BIND:-0.0.0.0} --port ${REDIS_PORT:-6379} ${REDIS_PASSWORD:+--requirepass $REDIS_PASSWORD}"]
