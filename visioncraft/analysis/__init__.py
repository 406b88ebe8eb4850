"""Analysis tools over runs, datasets and models (``tools/analysis_tools/*`` and ``visioncraft report`` call these):
training curves from ``scalars.json``, FLOPs, inference speed, dataset browsing, confusion matrices, best / worst
results and the one-file HTML report of a work dir. Each module is imported on its own (nothing here eagerly)."""
