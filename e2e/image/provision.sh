#!/usr/bin/env bash
# Runs inside the worker image at build time (virt-customize --run): installs the node's
# runtime and Kubernetes binaries, and leaves joining to cloud-init at first boot.
set -euo pipefail
# Replaced by the Dockerfile with its KUBERNETES_MINOR build argument.
KUBERNETES_MINOR=v1.31
export DEBIAN_FRONTEND=noninteractive

apt-get update
apt-get install -y --no-install-recommends containerd apt-transport-https ca-certificates curl gpg

install -d -m 0755 /etc/apt/keyrings
curl -fsSL "https://pkgs.k8s.io/core:/stable:/${KUBERNETES_MINOR}/deb/Release.key" \
    | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/${KUBERNETES_MINOR}/deb/ /" \
    > /etc/apt/sources.list.d/kubernetes.list
apt-get update
apt-get install -y --no-install-recommends kubelet kubeadm kubectl
apt-mark hold kubelet kubeadm kubectl containerd

# kubelet and containerd must agree on the systemd cgroup driver.
mkdir -p /etc/containerd
containerd config default > /etc/containerd/config.toml
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml

cat > /etc/modules-load.d/kubernetes.conf <<'CONF'
overlay
br_netfilter
CONF
cat > /etc/sysctl.d/90-kubernetes.conf <<'CONF'
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
CONF
# No swap on nodes (kubelet's default); cloud images ship none, this keeps it that way.
sed -i '/\sswap\s/d' /etc/fstab

systemctl enable containerd kubelet

# Every VM from this image must be a new machine to cloud-init and systemd.
apt-get clean
rm -rf /var/lib/apt/lists/*
cloud-init clean --logs --seed
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
