"""Batched, per-sample, seeded augmentations for 1-channel X-ray batches ``(B, 1, H, W)``."""

from medaug.augment.base import REF_SIZE, Op, scaled
from medaug.augment.chessboard import chessboard_shift
from medaug.augment.pipeline import Pipeline, build_pipeline
from medaug.augment.preview import write_preview
from medaug.augment.registry import available_ops, build_ops, create_op, parse_spec, register_op
from medaug.augment.views import TwoViews

__all__ = [
    "REF_SIZE",
    "Op",
    "Pipeline",
    "TwoViews",
    "available_ops",
    "build_ops",
    "build_pipeline",
    "chessboard_shift",
    "create_op",
    "parse_spec",
    "register_op",
    "scaled",
    "write_preview",
]
