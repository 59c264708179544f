"""Kedro pipelines: thin nodes around the library modules."""

from collections.abc import Callable
from functools import wraps


def bind(func: Callable, **fixed) -> Callable:
    """``func`` with the ``fixed`` keyword arguments set; its name, signature and type hints stay inspectable."""

    @wraps(func)
    def bound(*args, **kwargs):
        return func(*args, **fixed, **kwargs)

    return bound


def bind_round(func: Callable, round_number: int, **fixed) -> Callable:
    """``func`` with its ``round_number`` argument (and any other ``fixed`` keyword arguments) set."""
    return bind(func, round_number=round_number, **fixed)


def round_name(round_number: int) -> str:
    """``round_007``: zero-padded so that rounds sort in order in listings and ``kedro viz``.

    The width is fixed, not taken from the number of rounds, so that raising
    ``rounds`` to extend a finished run keeps the names of its rounds.
    """
    return f"round_{round_number:03d}"
