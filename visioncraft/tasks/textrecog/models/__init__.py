"""Text recognition models."""
