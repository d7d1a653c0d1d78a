#!/usr/bin/env bash
# image-base.sh - the local stand-ins the image test builds the real Dockerfile on, since no
# image registry is reachable here (sourced by image-e2e.sh, or run as a command):
#   hookrun-e2e/debian:bookworm-slim  debootstrap --variant=minbase bookworm, docker import
#   hookrun-e2e/docker-cli:local      this host's docker CLI at /usr/local/bin/docker
#   hookrun-e2e/kubectl:local         this host's kubectl at /bin/kubectl
# The debootstrap root file system is kept as a tarball in $E2E_IMAGE_CACHE (default
# /var/cache/hookrun-e2e) and reused while it is younger than 30 days: the first build takes a
# few minutes, later ones seconds. Images already in the engine are reused as they are.
# Usage: scripts/e2e/image-base.sh        (prints the three references, one a line)
#        scripts/e2e/image-base.sh --rootfs   (only the cached root file system, no Docker:
#                                              scripts/test prepares it early, in the background)
# Needs root, debootstrap, docker, kubectl.
set -euo pipefail

E2E_IMAGE_CACHE="${E2E_IMAGE_CACHE:-/var/cache/hookrun-e2e}"
E2E_DEBIAN_IMAGE=hookrun-e2e/debian:bookworm-slim
E2E_DOCKER_CLI_IMAGE=hookrun-e2e/docker-cli:local
E2E_KUBECTL_IMAGE=hookrun-e2e/kubectl:local

_base_log() { printf 'image-base: %s\n' "$*" >&2; }

# The Debian mirror apt uses on this host (deb822 or one-line sources), else Debian's own.
_base_mirror() {
  local uri
  uri="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)"
  if [[ -z "$uri" ]]; then
    uri="$(sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)"
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# The bookworm minbase root file system as a tarball in the cache (built when missing or old).
_base_rootfs_tar() {
  local tar="$E2E_IMAGE_CACHE/debian-bookworm-minbase.tar" tmp mirror
  # A cached tarball is reused while recent, unless its root directory is not 0755 (one made
  # before the chmod below: the image's / was then 0700, and its non-root user found no `sh`).
  if [[ -s "$tar" ]] && [[ -n "$(find "$tar" -mtime -30 2>/dev/null)" ]] &&
    [[ "$(tar --numeric-owner -tvf "$tar" 2>/dev/null | head -n 1 | cut -c1-10)" == "drwxr-xr-x" ]]; then
    printf '%s\n' "$tar"
    return 0
  fi
  command -v debootstrap >/dev/null || { _base_log "debootstrap is not installed"; return 1; }
  mkdir -p -- "$E2E_IMAGE_CACHE"
  tmp="$(mktemp -d "$E2E_IMAGE_CACHE/rootfs.XXXXXX")"
  # mktemp makes the directory 0700, and it becomes the image's `/`: a container running as
  # another user than root could then reach nothing (`exec: "sh": executable file not found`).
  chmod 0755 -- "$tmp"
  mirror="$(_base_mirror)"
  _base_log "debootstrap --variant=minbase bookworm (a few minutes, once; log: $tmp.log)"
  if ! debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$tmp.log" 2>&1; then
    tail -n 20 -- "$tmp.log" >&2
    rm -rf -- "$tmp"
    return 1
  fi
  # As Debian's own images: no package lists, no caches.
  rm -rf -- "$tmp"/var/lib/apt/lists/* "$tmp"/var/cache/apt/*.bin "$tmp"/var/cache/apt/archives/*.deb
  tar --numeric-owner -C "$tmp" -cf "$tar.tmp" .
  mv -f -- "$tar.tmp" "$tar"
  rm -rf -- "$tmp" "$tmp.log"
  printf '%s\n' "$tar"
}

# _base_import_file REF SOURCE PATH-IN-IMAGE: an image holding one file
_base_import_file() {
  local ref="$1" src="$2" dest="$3" tmp
  tmp="$(mktemp -d)"
  chmod 0755 -- "$tmp" # the image's `/` (see _base_rootfs_tar)
  install -D -m 0755 -- "$src" "$tmp/$dest"
  tar --numeric-owner -C "$tmp" -c . | docker import - "$ref" >/dev/null
  rm -rf -- "$tmp"
}

# e2e_base_images: make sure the three stand-ins exist
e2e_base_images() {
  local tar
  # An image left by an earlier version of this script may have a `/` that only root can
  # enter: it is imported again (checked by running its shell as the image's user).
  if docker image inspect "$E2E_DEBIAN_IMAGE" >/dev/null 2>&1 &&
    ! docker run --rm --user 10001 --entrypoint sh "$E2E_DEBIAN_IMAGE" -c true >/dev/null 2>&1; then
    _base_log "$E2E_DEBIAN_IMAGE: its shell does not run as uid 10001: importing it again"
    docker rmi -f "$E2E_DEBIAN_IMAGE" >/dev/null
  fi
  if ! docker image inspect "$E2E_DEBIAN_IMAGE" >/dev/null 2>&1; then
    tar="$(_base_rootfs_tar)"
    _base_log "docker import $tar $E2E_DEBIAN_IMAGE"
    docker import "$tar" "$E2E_DEBIAN_IMAGE" >/dev/null
  fi
  if ! docker image inspect "$E2E_DOCKER_CLI_IMAGE" >/dev/null 2>&1; then
    _base_import_file "$E2E_DOCKER_CLI_IMAGE" "$(command -v docker)" usr/local/bin/docker
  fi
  if ! docker image inspect "$E2E_KUBECTL_IMAGE" >/dev/null 2>&1; then
    _base_import_file "$E2E_KUBECTL_IMAGE" "$(command -v kubectl)" bin/kubectl
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" && "${1:-}" == --rootfs ]]; then
  _base_rootfs_tar
elif [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  e2e_base_images
  printf '%s\n' "$E2E_DEBIAN_IMAGE" "$E2E_DOCKER_CLI_IMAGE" "$E2E_KUBECTL_IMAGE"
fi
