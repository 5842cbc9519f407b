#!/usr/bin/env bash
# Creates the kind clusters (contexts kind-cluster-a, kind-cluster-b, ...).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: create.sh [--clusters N] [--dry-run]"
  echo "Creates N kind clusters from kind-clusters/cluster-<x>.yaml (generated for N > 2)."
  usage_common
}
parse_common "$@"
need kind

for ((i = 0; i < CLUSTERS; i++)); do
  cfg="$(config_file "$i")"
  if [ ! -f "$cfg" ]; then
    if [ "$DRY_RUN" -eq 1 ]; then echo "+ write $cfg"; else kind_config "$i" >"$cfg"; fi
  fi
  run kind create cluster --name "$(cluster_name "$i")" --config "$cfg" --wait 120s
done
