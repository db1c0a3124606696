"""takedown feature."""
