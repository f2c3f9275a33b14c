#!/bin/sh
# Start Docker Engine (Debian's docker.io) when it is not running; a no-op when it is.
# Used by `make docker-images` and the deploy test on machines without an init system.
set -eu
if docker info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null 2>&1 || { echo "dockerd not installed (apt-get install docker.io)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "dockerd is not running and starting it needs root" >&2; exit 1; }
# Stale pid file from a dockerd that died with its machine.
if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
nohup dockerd ${DRIFTDESK_DOCKERD_ARGS:-} >>/var/log/driftdesk-dockerd.log 2>&1 &
for _ in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done
echo "dockerd did not start; see /var/log/driftdesk-dockerd.log" >&2
tail -n 20 /var/log/driftdesk-dockerd.log >&2
exit 1
