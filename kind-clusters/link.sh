#!/usr/bin/env bash
# Links every pair of clusters both ways (cluster-a <-> cluster-b, ...), in gateway or flat mode.
# The kubeconfig kind writes reaches each API server at 127.0.0.1:<port> on this host; the other
# cluster's controller must use the control-plane node on the docker network instead.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: link.sh [--clusters N] [--mode gateway|flat] [--dry-run]"
  echo "mesh link <a> <b> and <b> <a> for every pair of kind contexts."
  usage_common
}
parse_common "$@"
need node

for ((i = 0; i < CLUSTERS; i++)); do
  for ((j = i + 1; j < CLUSTERS; j++)); do
    run "${MESH[@]}" link "$(context_name "$i")" "$(context_name "$j")" --mode "$MODE" \
      --api-server-address "https://$(cluster_name "$j")-control-plane:6443"
    run "${MESH[@]}" link "$(context_name "$j")" "$(context_name "$i")" --mode "$MODE" \
      --api-server-address "https://$(cluster_name "$i")-control-plane:6443"
  done
done
