#!/usr/bin/env bash
# Links every pair of clusters both ways (cluster-a <-> cluster-b, ...), in gateway or flat mode.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: link.sh [--clusters N] [--mode gateway|flat] [--dry-run]"
  echo "mesh link <a> <b> --both for every pair of kind contexts."
  usage_common
}
parse_common "$@"
need node

for ((i = 0; i < CLUSTERS; i++)); do
  for ((j = i + 1; j < CLUSTERS; j++)); do
    run "${MESH[@]}" link "$(context_name "$i")" "$(context_name "$j")" --both --mode "$MODE"
  done
done
