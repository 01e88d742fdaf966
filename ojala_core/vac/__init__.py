"""The value-added catalogue: predictions, derived quantities, classes and embeddings for a J-PAS catalogue."""
