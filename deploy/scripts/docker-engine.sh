#!/usr/bin/env bash
# Makes a Docker engine available for the container tests, and stops it again afterwards.
#
#   docker-engine.sh ensure           install docker.io + docker-compose if missing, start dockerd if
#                                     `docker info` fails (pid kept in $SYMPHONY_DOCKERD_DIR), wait until it
#                                     answers, then build the local base image and the four app images
#                                     (skipped with a note when the bundles are not built yet)
#   docker-engine.sh stop-if-started  stop the dockerd that `ensure` started (by its pid); a no-op otherwise
#
# Environment: SYMPHONY_DOCKERD_DIR (default ${TMPDIR:-/tmp}/symphony-dockerd) holds dockerd.pid and
# dockerd.log; SYMPHONY_SKIP_IMAGES=1 skips the image build in `ensure`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
state_dir="${SYMPHONY_DOCKERD_DIR:-${TMPDIR:-/tmp}/symphony-dockerd}"
pid_file="$state_dir/dockerd.pid"
log_file="$state_dir/dockerd.log"

log() { echo "docker-engine: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"
    return 1
  fi
}

install_if_missing() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  # busybox-static is the shell and wget of the local base image (build-base-image.sh).
  [ -x /bin/busybox ] || missing+=(busybox-static)
  if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
  local packages
  mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing ${packages[*]} with apt-get"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null
}

engine_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
  if engine_up; then
    log "a Docker engine already answers; leaving it alone"
    return 0
  fi
  mkdir -p "$state_dir"
  log "starting dockerd (log: $log_file)"
  # Started directly (not through a shell function) so that $! is dockerd's own pid (or sudo's,
  # which forwards signals to it).
  local prefix=()
  [ "$(id -u)" -eq 0 ] || prefix=(sudo)
  nohup "${prefix[@]}" dockerd >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 120); do
    if engine_up; then
      log "dockerd is ready (pid $(cat "$pid_file"))"
      return 0
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      log "dockerd exited; last lines of its log:"
      tail -n 20 "$log_file" >&2 || true
      rm -f "$pid_file"
      return 1
    fi
    sleep 0.5
  done
  log "dockerd did not answer within 60 s; last lines of its log:"
  tail -n 20 "$log_file" >&2 || true
  return 1
}

build_images() {
  if [ "${SYMPHONY_SKIP_IMAGES:-0}" = "1" ]; then return 0; fi
  "$here/build-base-image.sh"
  if ls "$root"/dist/apps/*/main.js >/dev/null 2>&1; then
    "$here/build-images.sh"
  else
    log "no bundles under dist/apps yet (run \`npm run build\`); app images not built"
  fi
}

stop_if_started() {
  if [ ! -f "$pid_file" ]; then
    log "no dockerd started by this script; nothing to stop"
    return 0
  fi
  local pid
  pid="$(cat "$pid_file")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd (pid $pid)"
    as_root kill -TERM "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd (pid $pid) still running after 30 s; sending SIGKILL"
      as_root kill -KILL "$pid" || true
    fi
  fi
  rm -f "$pid_file"
}

case "${1:-}" in
  ensure)
    install_if_missing
    start_dockerd
    build_images
    ;;
  stop-if-started) stop_if_started ;;
  *)
    echo "usage: $0 ensure|stop-if-started" >&2
    exit 2
    ;;
esac
