"""Seeded benchmark worlds and the planner benchmark."""
