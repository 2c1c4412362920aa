"""The embedded simulator, the fake API server and its agents."""
