#!/usr/bin/env bash
# Builds the kubeconfig Secret through which the autoscaler reaches one tenant cluster.
#
# The credentials are the long-lived token of the kubevirt-autoscaler ServiceAccount that
# identity.yaml creates in the tenant cluster, so the autoscaler has exactly the permissions
# listed there. The Secret is printed on standard output, for the management cluster:
#
#   kubectl --context TENANT apply -f manifests/tenant/
#   manifests/tenant/make-kubeconfig-secret.sh --context TENANT \
#       --server https://team-a.example:6443 --name team-a-kubeconfig \
#     | kubectl --context MANAGEMENT apply -f -
#
# The TenantCluster then refers to it as kubeconfigSecretRef: {name: team-a-kubeconfig, key: value}.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: make-kubeconfig-secret.sh --server URL --name SECRET [options]

  --server URL            the tenant API server as the management cluster reaches it (https://...)
  --name SECRET           name of the Secret to create in the management cluster
  --namespace NS          namespace of that Secret (default: kvpool-system)
  --key KEY               key of the kubeconfig in the Secret (default: value)
  --cluster NAME          cluster name inside the kubeconfig (default: the Secret name less "-kubeconfig")
  --context CONTEXT       kubectl context of the tenant cluster (default: the current one)
  --kubeconfig PATH       kubeconfig of the tenant cluster (default: kubectl's)
  --token-secret NAME     the ServiceAccount token Secret (default: kubevirt-autoscaler-token)
  --token-namespace NS    its namespace in the tenant cluster (default: kvpool-system)
USAGE
}

fail() {
    echo "make-kubeconfig-secret.sh: $*" >&2
    exit 1
}

server="" name="" namespace="kvpool-system" key="value" cluster="" context="" kubeconfig=""
token_secret="kubevirt-autoscaler-token" token_namespace="kvpool-system"
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --server|--name|--namespace|--key|--cluster|--context|--kubeconfig|--token-secret|--token-namespace)
            [[ $# -ge 2 && -n "$2" ]] || fail "$1 needs a value"
            case "$1" in
                --server) server="$2" ;;
                --name) name="$2" ;;
                --namespace) namespace="$2" ;;
                --key) key="$2" ;;
                --cluster) cluster="$2" ;;
                --context) context="$2" ;;
                --kubeconfig) kubeconfig="$2" ;;
                --token-secret) token_secret="$2" ;;
                --token-namespace) token_namespace="$2" ;;
            esac
            shift 2 ;;
        *) usage >&2; fail "unknown argument: $1" ;;
    esac
done

[[ -n "$server" ]] || fail "--server is required"
[[ "$server" =~ ^https://[^[:space:]]+$ ]] || fail "--server must be an https:// URL, got: $server"
[[ -n "$name" ]] || fail "--name is required"
dns_label='^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
[[ "$name" =~ $dns_label ]] || fail "--name must be a DNS label (lower-case letters, digits, '-'), got: $name"
[[ "$namespace" =~ $dns_label ]] || fail "--namespace must be a DNS label, got: $namespace"
[[ "$key" =~ ^[-._a-zA-Z0-9]+$ ]] || fail "--key may hold only letters, digits, '-', '_' and '.', got: $key"
cluster="${cluster:-${name%-kubeconfig}}"

kubectl_args=()
[[ -n "$context" ]] && kubectl_args+=(--context "$context")
[[ -n "$kubeconfig" ]] && kubectl_args+=(--kubeconfig "$kubeconfig")

read_field() {
    local field="$1" value
    if ! value=$(kubectl "${kubectl_args[@]}" --namespace "$token_namespace" get secret "$token_secret" \
            --output "jsonpath={.data.${field//./\\.}}"); then
        fail "cannot read Secret $token_namespace/$token_secret from the tenant cluster; apply identity.yaml there first"
    fi
    [[ -n "$value" ]] || fail "Secret $token_namespace/$token_secret has no $field yet; the token controller fills it in a few seconds, retry"
    printf '%s' "$value"
}

token_data=$(read_field token) || exit 1
token=$(printf '%s' "$token_data" | base64 --decode 2>/dev/null) \
    || fail "the token in $token_namespace/$token_secret is not base64"
ca_data=$(read_field ca.crt) || exit 1
printf '%s' "$ca_data" | base64 --decode >/dev/null 2>&1 || fail "ca.crt in $token_namespace/$token_secret is not base64"

kubeconfig_yaml=$(cat <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: ${cluster}
    cluster:
      server: ${server}
      certificate-authority-data: ${ca_data}
users:
  - name: kubevirt-autoscaler
    user:
      token: ${token}
contexts:
  - name: ${cluster}
    context:
      cluster: ${cluster}
      user: kubevirt-autoscaler
current-context: ${cluster}
KUBECONFIG
)

cat <<SECRET
apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: ${namespace}
  labels:
    app.kubernetes.io/part-of: kubevirt-autoscaler
type: Opaque
data:
  ${key}: $(printf '%s\n' "$kubeconfig_yaml" | base64 | tr -d '\n')
SECRET
