"""Text recognition transforms."""
