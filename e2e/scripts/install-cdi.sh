#!/usr/bin/env bash
# Installs the Containerized Data Importer (DataVolumes, golden-image clones) on the
# management cluster from its release manifests and waits until it is available.
source "$(dirname "$0")/common.sh"
require kubectl

release="https://github.com/kubevirt/containerized-data-importer/releases/download/${CDI_VERSION}"
mgmt apply -f "$release/cdi-operator.yaml"
mgmt apply -f "$release/cdi-cr.yaml"
mgmt wait cdi/cdi --for=condition=Available --timeout=15m
