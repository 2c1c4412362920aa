"""The pure, deterministic decision core."""
