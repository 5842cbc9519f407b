#!/usr/bin/env bash
# Runs the end-to-end scenarios (the same runner the sandbox e2e uses) against two kind contexts.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  echo "Usage: e2e.sh [--mode gateway|flat] [--dry-run]"
  echo "Runs test/e2e's scenario runner against kind-cluster-a and kind-cluster-b."
  usage_common
}
parse_common "$@"
need node

# >>> E2E RUNNER: the one line that calls the scenario runner (test/e2e, built to dist/test/e2e). <<<
run node "$REPO_ROOT/dist/test/e2e/run.js" --env kind --context-a "$(context_name 0)" --context-b "$(context_name 1)" --mode "$MODE" --image "$IMAGE" --trust-root "$TRUST_DIR"
