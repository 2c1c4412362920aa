"""The testbed: a fake Kubernetes API server and kwok-like agents (KubeVirt, kubelets,
scheduler, ReplicaSets) that the tests, the e2e fake-server world, the fault suite and
``kubevirt-autoscaler bench --suite controller`` run the controller against.

It is a distribution of its own (``kubevirt-autoscaler-testbed``, built from this directory),
so the product's wheel carries the simulator but not the testbed.
"""
