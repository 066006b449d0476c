"""Data: sources on disk -> Manifest -> splits -> preprocessed cache."""
