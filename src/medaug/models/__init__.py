"""Encoders (backbones with a 1-channel input) and the heads methods put on top of them."""

from medaug.models.backbones import available_backbones, create_backbone, feature_dim

__all__ = ["available_backbones", "create_backbone", "feature_dim"]
