#!/usr/bin/env bash
# The whole rig in order: create, build + load the image, install, link, flat routes (flat mode),
# mesh check, the e2e scenarios, and teardown (unless --keep). Flags pass through to each step.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: up.sh [--clusters N] [--mode gateway|flat] [--keep] [--dry-run]"
  echo "create.sh, load-image.sh, install.sh, link.sh, flat-routes.sh (flat), check.sh, e2e.sh, teardown.sh."
  usage_common
}

KEEP=0
ARGS=()
for a in "$@"; do
  if [ "$a" = "--keep" ]; then KEEP=1; else ARGS+=("$a"); fi
done
parse_common "${ARGS[@]+"${ARGS[@]}"}"

step() {
  echo "== $1" >&2
  "$KIND_DIR/$1" "${ARGS[@]+"${ARGS[@]}"}"
}

teardown() {
  if [ "$KEEP" -eq 0 ]; then step teardown.sh; fi
}
trap teardown EXIT

step create.sh
step load-image.sh
step install.sh
step link.sh
if [ "$MODE" = "flat" ]; then step flat-routes.sh; fi
step check.sh
step e2e.sh
