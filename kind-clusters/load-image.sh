#!/usr/bin/env bash
# Builds the mesh-federation image from the repository's Dockerfile and loads it into every kind cluster
# (kind nodes cannot pull a local image).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: load-image.sh [--clusters N] [--dry-run]"
  echo "docker build -t \$MESH_IMAGE, then kind load docker-image into each cluster."
  usage_common
}
parse_common "$@"
need docker
need kind

run docker build -t "$IMAGE" "$REPO_ROOT"
for ((i = 0; i < CLUSTERS; i++)); do
  run kind load docker-image "$IMAGE" --name "$(cluster_name "$i")"
done
