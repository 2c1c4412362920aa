#!/usr/bin/env bash
# Creates the management and the tenant kind clusters and writes their kubeconfigs to .work/.
source "$(dirname "$0")/common.sh"
require kind kubectl docker

kind create cluster --name "$MANAGEMENT_CLUSTER" --config "$E2E_DIR/kind/management.yaml" \
    --kubeconfig "$MANAGEMENT_KUBECONFIG"
kind create cluster --name "$TENANT_CLUSTER" --config "$E2E_DIR/kind/tenant.yaml" \
    --kubeconfig "$TENANT_KUBECONFIG"
echo "export KVPOOL_E2E_MANAGEMENT_KUBECONFIG=$MANAGEMENT_KUBECONFIG"
echo "export KVPOOL_E2E_TENANT_KUBECONFIG=$TENANT_KUBECONFIG"
