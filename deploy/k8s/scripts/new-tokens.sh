#!/usr/bin/env bash
# Writes deploy/k8s/base/auth.env: two random tokens for the symphony-auth Secret (node-token:
# node-schedulers -> scheduler; client-token: workloadgen and other clients -> scheduler).
# kustomize's secretGenerator reads it; it is gitignored. Keeps an existing file unless --force.
#
#   deploy/k8s/scripts/new-tokens.sh [--force]
set -euo pipefail

out="$(cd "$(dirname "${BASH_SOURCE[0]}")/../base" && pwd)/auth.env"
if [ -e "$out" ] && [ "${1:-}" != "--force" ]; then
  echo "new-tokens: $out exists; keeping it (--force writes new tokens)" >&2
  exit 0
fi
# 32 random bytes as hex; od is in coreutils everywhere, openssl is not.
token() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
umask 077
printf 'node-token=%s\nclient-token=%s\n' "$(token)" "$(token)" >"$out"
echo "new-tokens: wrote $out" >&2
