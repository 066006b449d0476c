"""Pretraining: the cache as a Lightning data module, monitoring, checkpoints, the runner."""
