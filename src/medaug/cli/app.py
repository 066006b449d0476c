"""The ``medaug`` Typer app, its command groups, the console and the one-line error wrapper.
Commands live in one thin module per group (:mod:`medaug.cli.data`, ``pretrain``, ...)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from medaug.errors import MedaugError

app = typer.Typer(help="Which augmentations make self-supervised pretraining work best on your "
                  "X-ray collection, and the evidence.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
augment_app = typer.Typer(help="Augmentation ops: list them, preview them.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print ratios measured side by side.",
                        no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(augment_app, name="augment")
app.add_typer(bench_app, name="bench")
# Tables stay readable when the output goes to a file or a CI log (rich would wrap at 80).
console = Console(width=None if sys.stdout.isatty() else 200)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Print a :class:`MedaugError` as one clear line and exit 2 instead of a traceback; an
    error that carries its own ``exit_code`` (an interrupted run: 130 for Ctrl-C, 143 for
    SIGTERM, as shells report them) exits with that."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MedaugError as exc:
            Console(stderr=True, soft_wrap=True).print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            code = getattr(exc, "exit_code", 2)
            sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 2)

    return wrapper  # type: ignore[return-value]


def quiet_lightning() -> None:
    """Keep Lightning's info lines and known deprecation chatter out of the output."""
    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
