#!/usr/bin/env bash
# Everything, in order: clusters, KubeVirt, CDI, images, the autoscaler and one tenant.
source "$(dirname "$0")/common.sh"
here="$(dirname "$0")"
"$here/create-clusters.sh"
"$here/install-kubevirt.sh"
"$here/install-cdi.sh"
"$here/build-images.sh"
"$here/install-autoscaler.sh"
"$here/register-tenant.sh"
echo "export KVPOOL_E2E_MANAGEMENT_KUBECONFIG=$MANAGEMENT_KUBECONFIG"
echo "export KVPOOL_E2E_TENANT_KUBECONFIG=$TENANT_KUBECONFIG"
