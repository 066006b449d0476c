"""``python -m medaug``: the same as the ``medaug`` command (DDP launchers re-run it)."""

from medaug.cli import app

if __name__ == "__main__":
    app()
