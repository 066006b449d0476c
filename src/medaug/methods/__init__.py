"""Self-supervised methods: a base that owns backbone, views, optimiser and logging, and thin
methods that define heads and a loss (solo-learn's split, lightly's building blocks)."""

from medaug.methods.base import OptimConfig, SSLMethod, available_methods, create_method

__all__ = ["OptimConfig", "SSLMethod", "available_methods", "create_method"]
