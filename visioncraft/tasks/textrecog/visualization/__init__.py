"""Text recognition visualization."""
