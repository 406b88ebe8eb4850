"""Text recognition codecs."""
