#!/bin/sh
# Print the path of a Docker Compose v2 binary, for checking that compose v2 accepts docker/compose.yaml
# (tests/deploy). Debian bookworm's `docker-compose` is 1.29 (v1); v2 is Debian trixie's `docker-compose`
# package (2.26). It is fetched once with apt-get under a private configuration (its own sources list,
# package lists and status file in the cache), unpacked with dpkg-deb and cached: the system's packages
# and apt lists are never touched. No registry or GitHub release needed, only Debian's archive.
set -eu
if [ -z "${DRIFTDESK_COMPOSE_V2_CACHE:-}" ]; then
  if mkdir -p /var/cache/driftdesk 2>/dev/null && [ -w /var/cache/driftdesk ]; then
    DRIFTDESK_COMPOSE_V2_CACHE=/var/cache/driftdesk/compose-v2
  else
    DRIFTDESK_COMPOSE_V2_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/driftdesk/compose-v2"
  fi
fi
CACHE="$DRIFTDESK_COMPOSE_V2_CACHE"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DRIFTDESK_COMPOSE_V2_SUITE:-trixie}"
bin="$CACHE/docker-compose"
if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then echo "$bin"; exit 0; fi

apt="$CACHE/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/sources.list.d"
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$apt/sources.list"
: > "$apt/status"
set -- -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d" \
  -o "Dir::State::Lists=$apt/lists" -o "Dir::State::Status=$apt/status" -o "Dir::Cache=$apt" \
  -o "Debug::NoLocking=true" -o "APT::Sandbox::User=$(id -un)"
apt-get "$@" -qq update >&2
rm -f "$apt"/docker-compose_*.deb
(cd "$apt" && apt-get "$@" -qq download docker-compose >&2)
rm -rf "$apt/x" && dpkg-deb -x "$apt"/docker-compose_*.deb "$apt/x"
install -m 0755 "$apt/x/usr/libexec/docker/cli-plugins/docker-compose" "$bin.tmp"
rm -rf "$apt/x" "$apt"/docker-compose_*.deb "$apt/archives" "$apt"/*.bin
mv "$bin.tmp" "$bin"
"$bin" version >&2
echo "$bin"
