"""Redress: appeals against blocks, removals and rejected notices; DMCA counter-notices."""
