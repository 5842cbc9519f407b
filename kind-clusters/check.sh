#!/usr/bin/env bash
# mesh check on every kind context: API, install, issuer, links, gateway probes, orphan shadows.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: check.sh [--clusters N] [--dry-run]"
  echo "mesh check kind-cluster-a kind-cluster-b ... (exit 1 if anything fails)."
  usage_common
}
parse_common "$@"
need node

CONTEXTS=()
for ((i = 0; i < CLUSTERS; i++)); do CONTEXTS+=("$(context_name "$i")"); done
run "${MESH[@]}" check "${CONTEXTS[@]}"
