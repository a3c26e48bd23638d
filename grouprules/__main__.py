"""``python -m grouprules``: the command-line interface."""

from .cli import run

run()
