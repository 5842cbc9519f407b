#!/usr/bin/env bash
# Writes (or, with --stdout, prints) the kind config of each cluster: kind-clusters/cluster-<x>.yaml.
# The two-cluster files are checked in; run this for N > 2.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: gen-config.sh [--clusters N] [--stdout] [--dry-run]"
  echo "Writes kind-clusters/cluster-<x>.yaml for N clusters with non-overlapping pod/service CIDRs."
  usage_common
}

STDOUT=0
ARGS=()
for a in "$@"; do
  if [ "$a" = "--stdout" ]; then STDOUT=1; else ARGS+=("$a"); fi
done
parse_common "${ARGS[@]+"${ARGS[@]}"}"

for ((i = 0; i < CLUSTERS; i++)); do
  if [ "$STDOUT" -eq 1 ]; then
    [ "$i" -eq 0 ] || echo '---'
    kind_config "$i"
  elif [ "$DRY_RUN" -eq 1 ]; then
    echo "+ write $(config_file "$i")"
  else
    kind_config "$i" >"$(config_file "$i")"
  fi
done
