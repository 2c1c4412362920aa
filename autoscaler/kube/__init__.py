"""Kubernetes I/O on kubernetes_asyncio."""
