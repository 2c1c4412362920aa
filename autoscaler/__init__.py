"""kubevirt-autoscaler: elastic worker pools of KubeVirt VMs for tenant Kubernetes clusters."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kubevirt-autoscaler")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
