"""Evaluation of frozen encoders: features, kNN, (later) probes and metrics."""
