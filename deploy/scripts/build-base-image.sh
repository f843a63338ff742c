#!/usr/bin/env bash
# Builds the local Node 24 runtime image `symphony/node-base:24` WITHOUT pulling anything: a root
# filesystem holding the project's Node 24 binary (from the npm `node` package in node_modules), the
# shared libraries `ldd` lists for it, busybox (sh, wget, ...), a `node` user (uid 1000) and /tmp 1777,
# imported with `docker import`. It stands in for the official `node:24-slim` where no registry is
# reachable; the app Dockerfile works on either (see deploy/README.md).
#
#   build-base-image.sh [--force]    (skips the build when the image exists for the same Node version)
#
# Environment: SYMPHONY_BASE_IMAGE (default symphony/node-base:24), NODE_BINARY (default: the npm node
# package's binary under node_modules).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
image="${SYMPHONY_BASE_IMAGE:-symphony/node-base:24}"
force=0
[ "${1:-}" = "--force" ] && force=1

log() { echo "build-base-image: $*" >&2; }
die() {
  log "error: $*"
  exit 2
}

node_bin="${NODE_BINARY:-$root/node_modules/node/bin/node}"
[ -e "$node_bin" ] || die "$node_bin is missing: run \`npm ci\` first (the npm \`node\` package provides Node 24)"
node_bin="$(readlink -f "$node_bin")"
node_version="$("$node_bin" --version)"
case "$node_version" in v24.*) ;; *) die "$node_bin is Node $node_version; expected v24.x" ;; esac

busybox="$(command -v busybox || true)"
[ -x /bin/busybox ] && busybox=/bin/busybox
[ -n "$busybox" ] || die "busybox is missing: apt-get install busybox-static"
if ldd "$busybox" >/dev/null 2>&1; then
  die "$busybox is dynamically linked; install busybox-static (it must run without its libraries)"
fi

if [ "$force" = 0 ] &&
  [ "$(docker image inspect --format '{{index .Config.Labels "symphony.node-version"}}' "$image" 2>/dev/null || true)" = "$node_version" ]; then
  log "$image (Node $node_version) already exists; use --force to rebuild"
  exit 0
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/symphony-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

mkdir -p "$rootfs"/{bin,etc,home/node,tmp,usr/local/bin}
cp "$node_bin" "$rootfs/usr/local/bin/node"

# The dynamic loader and every library node links against, at the paths the binary asks for.
ldd "$node_bin" | grep -oE '/[^ ]+' | sort -u | while read -r lib; do
  cp --parents -L "$lib" "$rootfs/"
done

cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
echo "hosts: files dns" >"$rootfs/etc/nsswitch.conf"
chmod 1777 "$rootfs/tmp"
chown 1000:1000 "$rootfs/home/node"

tar --numeric-owner -C "$rootfs" -c . |
  docker import \
    -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c "ENV NODE_VERSION=${node_version#v}" \
    -c "LABEL symphony.node-version=$node_version" \
    -c 'CMD ["node"]' \
    - "$image" >/dev/null
log "built $image (Node $node_version, $(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
