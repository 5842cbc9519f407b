#!/usr/bin/env bash
# Flat mode needs pod-to-pod routes between clusters: on every node of cluster X, a route to each other
# cluster's pod subnet via one of that cluster's nodes (all kind nodes share the docker "kind" network).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: flat-routes.sh [--clusters N] [--dry-run]"
  echo "docker exec <node> ip route replace <other pod subnet> via <other cluster's node IP>, every pair."
  usage_common
}
parse_common "$@"
need docker

nodes_of() {
  capture "nodes-of-$(cluster_name "$1")" kind get nodes --name "$(cluster_name "$1")"
}

for ((i = 0; i < CLUSTERS; i++)); do
  for ((j = 0; j < CLUSTERS; j++)); do
    [ "$i" -ne "$j" ] || continue
    # Any node of cluster J can forward to its pods; its control-plane node is always there.
    via_node="$(cluster_name "$j")-control-plane"
    via_ip="$(capture "ip-of-$via_node" docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$via_node")"
    for node in $(nodes_of "$i"); do
      # `replace` keeps the script safe to run again.
      run docker exec "$node" ip route replace "$(pod_subnet "$j")" via "$via_ip"
    done
  done
done
