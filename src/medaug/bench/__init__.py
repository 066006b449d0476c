"""Benchmarks: each times two implementations side by side in one run and prints the ratio."""
