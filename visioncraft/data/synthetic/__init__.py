"""Datasets the package generates itself, deterministically, for demos and tests."""
