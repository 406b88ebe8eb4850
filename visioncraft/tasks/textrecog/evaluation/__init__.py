"""Text recognition evaluation."""
