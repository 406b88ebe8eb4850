"""Task packages (detection, text detection / recognition, pose): datasets, transforms, models, metrics."""
