#!/usr/bin/env bash
# The upstream Multi-Cluster Services API conformance suite (kubernetes-sigs/mcs-api `conformance/`, pinned
# to a release) against the kind rig, once per link mode: fresh clusters, the mesh installed (CoreDNS
# forwarding clusterset.local to mesh-dns), linked both ways (flat mode: pod routes too), `mesh check`,
# then `go test` of the suite with --contexts; its report.yaml and report.html (plus Ginkgo's JSON and
# JUnit reports) are kept under the output directory, one folder per mode, to compare with
# the reports Cilium and Submariner publish. Clusters are removed after each mode unless --keep.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The suite release: v0.5.x writes report.yaml and takes the implementation flags; bump deliberately.
MCS_API_REF="${MCS_API_REF:-v0.5.2}"
MCS_API_REPO="${MCS_API_REPO:-https://github.com/kubernetes-sigs/mcs-api}"
OUT_DIR="${MESH_CONFORMANCE_OUT:-$KIND_DIR/.conformance}"
# Goes into the report's implementation section (the suite's --url flag).
MESH_URL="${MESH_URL:-https://github.com/mesh-federation/mesh-federation}"

usage() {
  echo "Usage: mcs-conformance.sh [--mode gateway|flat] [--clusters N] [--ref TAG] [--out DIR] [--keep] [--dry-run]"
  echo "Runs the MCS API conformance suite (kubernetes-sigs/mcs-api $MCS_API_REF, go test ./conformance --contexts=...)"
  echo "against fresh kind clusters in each link mode (both unless --mode), keeping report.yaml per mode in"
  echo "\$OUT/<mode>/ (default $OUT_DIR). Needs Docker, kind, kubectl, git, Go >= 1.23 and Node 20."
  echo "  --ref TAG        mcs-api release to run (default $MCS_API_REF; env MCS_API_REF)"
  echo "  --out DIR        where the reports go (env MESH_CONFORMANCE_OUT)"
  echo "  --keep           leave the last mode's clusters up"
  usage_common
}

KEEP=0
MODES=(gateway flat)
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --ref)
      [ $# -ge 2 ] || die_usage "--ref needs a tag"
      MCS_API_REF="$2"
      shift
      ;;
    --ref=*) MCS_API_REF="${1#--ref=}" ;;
    --out)
      [ $# -ge 2 ] || die_usage "--out needs a directory"
      OUT_DIR="$2"
      shift
      ;;
    --out=*) OUT_DIR="${1#--out=}" ;;
    --mode | --mode=*)
      # One mode only; parse_common validates it.
      if [ "$1" = "--mode" ]; then
        [ $# -ge 2 ] || die_usage "--mode needs gateway or flat"
        ARGS+=("$1" "$2")
        MODES=("$2")
        shift
      else
        ARGS+=("$1")
        MODES=("${1#--mode=}")
      fi
      ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
parse_common "${ARGS[@]+"${ARGS[@]}"}"
case "$MCS_API_REF" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) die_usage "--ref must be a release tag like v0.5.2, got '$MCS_API_REF'" ;;
esac
SRC_DIR="${MESH_CONFORMANCE_SRC:-$KIND_DIR/.mcs-api-$MCS_API_REF}"
need git
need go
need kind
need kubectl

CONTEXTS="$(context_name 0)"
for ((i = 1; i < CLUSTERS; i++)); do CONTEXTS+=",$(context_name "$i")"; done
KUBECONFIG_FILE="${KUBECONFIG:-$HOME/.kube/config}"

# The suite, at the pinned release (a shallow clone; reused when already there).
if [ ! -d "$SRC_DIR/conformance" ] || [ "$DRY_RUN" -eq 1 ]; then
  run git clone --depth 1 --branch "$MCS_API_REF" "$MCS_API_REPO" "$SRC_DIR"
fi

# The rig's own scripts, called as up.sh does: with --dry-run they print their whole plan too.
DRY=()
if [ "$DRY_RUN" -eq 1 ]; then DRY=(--dry-run); fi
step() {
  local script="$1"
  shift
  echo "== $script $*" >&2
  "$KIND_DIR/$script" --clusters "$CLUSTERS" "${DRY[@]+"${DRY[@]}"}" "$@"
}

teardown() {
  if [ "$KEEP" -eq 0 ]; then step teardown.sh; fi
}

# run_suite MODE: go test of the conformance package; the suite writes report.yaml/report.html in its
# working directory (the package directory), so they are moved to the mode's folder right after.
run_suite() {
  local mode="$1" dir="$OUT_DIR/$1" status=0
  run mkdir -p "$dir"
  # >>> SUITE: the one line that runs the upstream conformance suite. <<<
  run go -C "$SRC_DIR/conformance" test . -count=1 -timeout=60m -v -args \
    "-kubeconfig=$KUBECONFIG_FILE" "-contexts=$CONTEXTS" \
    -organization=mesh-federation -project="mesh-federation ($mode mode)" "-version=$MESH_VERSION" "-url=$MESH_URL" \
    -ginkgo.v "-ginkgo.json-report=$dir/ginkgo-report.json" "-ginkgo.junit-report=$dir/junit.xml" || status=$?
  for f in report.yaml report.html; do
    if [ "$DRY_RUN" -eq 1 ] || [ -f "$SRC_DIR/conformance/$f" ]; then run mv -f "$SRC_DIR/conformance/$f" "$dir/$f"; fi
  done
  return "$status"
}

failed=()
for mode in "${MODES[@]}"; do
  echo "== mode $mode" >&2
  trap teardown EXIT
  step create.sh
  step load-image.sh
  step install.sh
  step link.sh --mode "$mode"
  if [ "$mode" = "flat" ]; then step flat-routes.sh; fi
  step check.sh
  run_suite "$mode" || failed+=("$mode")
  trap - EXIT
  # Between modes the clusters always go (the next mode starts fresh); after the last, --keep keeps them.
  if [ "$mode" != "${MODES[${#MODES[@]} - 1]}" ]; then step teardown.sh; else teardown; fi
done

echo "reports: $OUT_DIR/<mode>/report.yaml (suite $MCS_API_REF; compare with the published Cilium/Submariner reports)" >&2
if [ ${#failed[@]} -gt 0 ]; then die "conformance suite failed in mode(s): ${failed[*]} (see $OUT_DIR/<mode>/report.yaml)"; fi
