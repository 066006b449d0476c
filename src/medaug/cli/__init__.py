"""The ``medaug`` command: one Typer app, each subcommand a thin call into the package.

Importing this package registers every command group's module on :data:`app`."""

from medaug.cli import augment, bench, data, evaluate, explain, pretrain, study  # noqa: F401
from medaug.cli.app import app

__all__ = ["app"]
