"""email feature."""
