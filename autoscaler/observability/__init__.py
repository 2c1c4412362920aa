"""Metrics, health endpoints and structured logs."""
