#!/usr/bin/env bash
# Deletes both kind clusters and the kubeconfigs in .work/.
source "$(dirname "$0")/common.sh"
require kind
kind delete cluster --name "$TENANT_CLUSTER"
kind delete cluster --name "$MANAGEMENT_CLUSTER"
rm -f "$MANAGEMENT_KUBECONFIG" "$TENANT_KUBECONFIG"
