#!/usr/bin/env bash
# Builds the app images symphony/<app>:<tag> from deploy/Dockerfile and the bundles in dist/apps.
#
#   build-images.sh [app ...]      (default: workloadgen scheduler node-scheduler mock-vllm)
#
# Base image: $BASE_IMAGE if set; else the official node:24-slim if it is present locally or can be
# pulled within $SYMPHONY_PULL_TIMEOUT seconds (default 20; 0 = don't try); else the local
# symphony/node-base:24, built by build-base-image.sh without any registry.
# Environment: SYMPHONY_IMAGE_TAG (default latest).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tag="${SYMPHONY_IMAGE_TAG:-latest}"
official="node:24-slim"
local_base="${SYMPHONY_BASE_IMAGE:-symphony/node-base:24}"
all_apps=(workloadgen scheduler node-scheduler mock-vllm)

log() { echo "build-images: $*" >&2; }
die() {
  log "error: $*"
  exit 2
}

apps=("$@")
[ "${#apps[@]}" -gt 0 ] || apps=("${all_apps[@]}")
for app in "${apps[@]}"; do
  case " ${all_apps[*]} " in *" $app "*) ;; *) die "unknown app '$app' (expected one of: ${all_apps[*]})" ;; esac
  [ -f "$root/dist/apps/$app/main.js" ] || die "dist/apps/$app/main.js is missing: run \`npm run build\` first"
done

docker info >/dev/null 2>&1 || die "no Docker engine answers (try deploy/scripts/docker-engine.sh ensure)"

choose_base() {
  if [ -n "${BASE_IMAGE:-}" ]; then
    echo "$BASE_IMAGE"
  elif docker image inspect "$official" >/dev/null 2>&1; then
    echo "$official"
  elif [ "${SYMPHONY_PULL_TIMEOUT:-20}" != 0 ] &&
    timeout "${SYMPHONY_PULL_TIMEOUT:-20}" docker pull -q "$official" >/dev/null 2>&1; then
    echo "$official"
  else
    log "$official is neither present nor pullable; using the local $local_base"
    SYMPHONY_BASE_IMAGE="$local_base" "$here/build-base-image.sh" >&2
    echo "$local_base"
  fi
}
base="$(choose_base)"

for app in "${apps[@]}"; do
  # DOCKER_BUILDKIT=0: the Dockerfile is classic-builder syntax and Debian's Docker 20.10 has no buildx.
  DOCKER_BUILDKIT=0 docker build -q \
    -f "$root/deploy/Dockerfile" \
    --build-arg "APP=$app" \
    --build-arg "BASE_IMAGE=$base" \
    --label "symphony.base-image=$base" \
    -t "symphony/$app:$tag" \
    "$root" >/dev/null 2> >(grep -v -E 'DEPRECATED|legacy builder|BuildKit is currently disabled|environment-variable\.|buildx|^\s*$' >&2)
  size="$(docker image inspect --format '{{.Size}}' "symphony/$app:$tag" | awk '{printf "%.0f MB", $1/1e6}')"
  log "built symphony/$app:$tag on $base ($size)"
done
