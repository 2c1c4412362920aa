"""VM backends behind one small protocol."""
