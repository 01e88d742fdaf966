"""The OJALA encoder–decoder transformer, its tokeniser and its save/load format."""
