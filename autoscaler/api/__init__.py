"""Typed APIs: CRD models, annotations, quantities and builders (no I/O)."""
