"""Data in and out: validation, preprocessing kept with the model, model files."""
