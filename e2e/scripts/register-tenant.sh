#!/usr/bin/env bash
# Registers the tenant kind cluster: its identity and NodePool CRD, the kubeconfig Secret and a
# TenantCluster on the management cluster, and a NodePool that starts empty.
source "$(dirname "$0")/common.sh"
require kubectl docker

# VMs and the controller reach the tenant's API server at its node's address on kind's network.
tenant_ip=$(docker inspect -f '{{ .NetworkSettings.Networks.kind.IPAddress }}' \
    "${TENANT_CLUSTER}-control-plane")
server="https://${tenant_ip}:6443"

tenant apply -f "$REPO_DIR/manifests/tenant/"
tenant -n kvpool-system wait secret/kubevirt-autoscaler-token \
    --for=jsonpath='{.data.token}' --timeout=60s
"$REPO_DIR/manifests/tenant/make-kubeconfig-secret.sh" --kubeconfig "$TENANT_KUBECONFIG" \
    --server "$server" --name e2e-kubeconfig --namespace "$NAMESPACE" | mgmt apply -f -

mgmt create namespace e2e-vms --dry-run=client -o yaml | mgmt apply -f -
mgmt apply -f - <<YAML
apiVersion: autoscaling.kvpool.io/v1alpha1
kind: TenantCluster
metadata: {name: e2e, namespace: ${NAMESPACE}}
spec:
  kubeconfigSecretRef: {name: e2e-kubeconfig, key: value}
  vmNamespace: e2e-vms
  images:
    - {name: worker, containerDisk: ${WORKER_IMAGE}}
  shapes: {cpu: {min: 1, max: 4, step: 1}, memory: {min: 2Gi, max: 8Gi, step: 1Gi}}
  limits: {vms: 4, cpu: 16, memory: 32Gi}
  bootstrap: {kind: kubeadm, apiServerEndpoint: ${server}}
YAML

tenant apply -f - <<'YAML'
apiVersion: autoscaling.kvpool.io/v1alpha1
kind: NodePool
metadata:
  name: general
  annotations:
    kvpool.io/min-nodes: "0"
    kvpool.io/max-nodes: "3"
    kvpool.io/image: worker
    kvpool.io/cpu: "1-4"
    kvpool.io/memory: "2Gi-8Gi"
    kvpool.io/scale-down-unneeded-time: 2m
spec:
  template: {labels: {pool: general}, taints: []}
YAML
