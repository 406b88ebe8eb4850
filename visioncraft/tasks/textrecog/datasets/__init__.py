"""Text recognition datasets."""
