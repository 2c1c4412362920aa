"""Wiring: tenant loops, the manager and the actuator."""
