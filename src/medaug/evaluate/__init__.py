"""Evaluation of frozen encoders: features, probes (logistic, kNN), label fractions, metrics with
patient-level intervals, the supervised baseline and paired comparisons."""
