#!/usr/bin/env bash
# Makes one shared trust root (once) and installs the mesh into every cluster with an issuer from it.
# kind has no LoadBalancer, so the gateway Service is a NodePort.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: install.sh [--clusters N] [--dry-run]"
  echo "mesh trust root (if \$MESH_TRUST_DIR has none), then mesh install in each kind context."
  usage_common
}
parse_common "$@"
need node

if [ ! -f "$TRUST_DIR/root.crt" ] || [ "$DRY_RUN" -eq 1 ]; then
  run mkdir -p "$TRUST_DIR"
  run "${MESH[@]}" trust create-root --out "$TRUST_DIR"
fi
for ((i = 0; i < CLUSTERS; i++)); do
  run "${MESH[@]}" install "$(context_name "$i")" --cluster-name "$(cluster_name "$i")" \
    --trust-root "$TRUST_DIR" --gateway-service-type NodePort --image "$IMAGE" --patch-coredns
done
