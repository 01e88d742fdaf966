"""Readers and writers at the edges of OJALA: FITS, CSV and Parquet in the real formats."""
