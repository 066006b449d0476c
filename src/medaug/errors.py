"""Exceptions a user can act on.

Every error medaug raises on bad input is a :class:`MedaugError` whose message names the file
(or dataset, or parameter) and the reason. The CLI prints the message without a traceback.
"""

from __future__ import annotations


class MedaugError(Exception):
    """Base class of every user-facing medaug error."""


class DataError(MedaugError):
    """A dataset is missing, empty, malformed, or inconsistent."""


class LeakageError(DataError):
    """A patient or study appears in more than one split."""


class AugmentError(MedaugError):
    """An augmentation spec names an unknown op or parameter, or a value is invalid."""


class ConfigError(MedaugError):
    """A configuration file or option is invalid."""


class TrainingError(MedaugError):
    """Training cannot start or cannot go on (bad batch size, a loss that turned NaN, a run
    folder in the way); the message says what to do, and finished checkpoints stay on disk."""
