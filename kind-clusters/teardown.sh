#!/usr/bin/env bash
# Deletes the kind clusters (and with them everything the mesh made). Safe to run again.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: teardown.sh [--clusters N] [--dry-run]"
  echo "kind delete cluster for each cluster."
  usage_common
}
parse_common "$@"
need kind

for ((i = 0; i < CLUSTERS; i++)); do
  run kind delete cluster --name "$(cluster_name "$i")"
done
