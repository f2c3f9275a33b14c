#!/bin/sh
# Build the Debian base images the Dockerfiles start FROM, without any image registry:
# debootstrap a minimal root file system from Debian's package archive and `docker import` it
# under the official name (debian:bookworm-slim, debian:trixie-slim). Images already present are
# kept, and the root-file-system tarballs are cached in $DRIFTDESK_BASE_CACHE, so this runs once
# per machine. Needs root, debootstrap and a running Docker Engine.
set -eu
CACHE="${DRIFTDESK_BASE_CACHE:-/var/cache/driftdesk/base-images}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$CACHE"
for suite in "$@"; do
  name="debian:${suite}-slim"
  if docker image inspect "$name" >/dev/null 2>&1; then
    echo "base image $name present"; continue
  fi
  tarball="$CACHE/${suite}-slim.tar"
  if [ ! -s "$tarball" ]; then
    root="$(mktemp -d "$CACHE/${suite}.XXXXXX")"
    echo "debootstrap $suite into $root"
    debootstrap --variant=minbase "$suite" "$root" "$MIRROR"
    # What the official -slim images leave out: apt caches, documentation, man pages.
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    tar -C "$root" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  docker import --change 'CMD ["bash"]' "$tarball" "$name"
done
