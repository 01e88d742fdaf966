"""OJALA core library: photometry, vocabulary, synthetic sky, mocks, model, inference, metrics."""
__version__ = "0.1.0"
