"""The ``visioncraft`` command line."""
