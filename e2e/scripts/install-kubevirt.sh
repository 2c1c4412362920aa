#!/usr/bin/env bash
# Installs KubeVirt from its release manifests on the management cluster, with software
# emulation (kind nodes have no /dev/kvm), and waits until it is available.
source "$(dirname "$0")/common.sh"
require kubectl

release="https://github.com/kubevirt/kubevirt/releases/download/${KUBEVIRT_VERSION}"
mgmt apply -f "$release/kubevirt-operator.yaml"
mgmt apply -f "$release/kubevirt-cr.yaml"
mgmt -n kubevirt patch kubevirt kubevirt --type=merge \
    -p '{"spec":{"configuration":{"developerConfiguration":{"useEmulation":true}}}}'
mgmt -n kubevirt wait kubevirt/kubevirt --for=condition=Available --timeout=15m
