"""Shipped scenario files (YAML); see docs/scenarios.md."""
