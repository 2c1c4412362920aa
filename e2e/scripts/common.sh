# Shared settings of the e2e scripts; sourced, not run.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$E2E_DIR/.." && pwd)"
WORK_DIR="${KVPOOL_E2E_WORK_DIR:-$E2E_DIR/.work}"
MANAGEMENT_CLUSTER="${KVPOOL_E2E_MANAGEMENT_CLUSTER:-kvpool-management}"
TENANT_CLUSTER="${KVPOOL_E2E_TENANT_CLUSTER:-kvpool-tenant}"
MANAGEMENT_KUBECONFIG="$WORK_DIR/management.kubeconfig"
TENANT_KUBECONFIG="$WORK_DIR/tenant.kubeconfig"
KUBEVIRT_VERSION="${KUBEVIRT_VERSION:-v1.4.0}"
CDI_VERSION="${CDI_VERSION:-v1.61.0}"
KUBERNETES_MINOR="${KUBERNETES_MINOR:-v1.31}"
CONTROLLER_IMAGE="${KVPOOL_E2E_CONTROLLER_IMAGE:-kubevirt-autoscaler:e2e}"
WORKER_IMAGE="${KVPOOL_E2E_WORKER_IMAGE:-k8s-worker:${KUBERNETES_MINOR}}"
NAMESPACE="${KVPOOL_E2E_NAMESPACE:-kvpool-system}"

mkdir -p "$WORK_DIR"

require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "e2e: $tool is required on PATH" >&2; exit 1; }
    done
}

mgmt() { kubectl --kubeconfig "$MANAGEMENT_KUBECONFIG" "$@"; }
tenant() { kubectl --kubeconfig "$TENANT_KUBECONFIG" "$@"; }
