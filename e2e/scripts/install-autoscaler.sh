#!/usr/bin/env bash
# Installs the chart on the management cluster with the locally built controller image.
source "$(dirname "$0")/common.sh"
require helm

helm upgrade --install kubevirt-autoscaler "$REPO_DIR/charts/kubevirt-autoscaler" \
    --kubeconfig "$MANAGEMENT_KUBECONFIG" --namespace "$NAMESPACE" --create-namespace \
    --set image.repository="${CONTROLLER_IMAGE%:*}" --set image.tag="${CONTROLLER_IMAGE##*:}" \
    --set image.pullPolicy=Never --set settings.logLevel=debug \
    --wait --timeout 5m
