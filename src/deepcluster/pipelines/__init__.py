"""Kedro pipelines: thin nodes around the library modules."""

from collections.abc import Callable
from functools import wraps


def bind_round(func: Callable, round_number: int) -> Callable:
    """``func`` with its ``round_number`` argument fixed; signature and type hints stay inspectable."""

    @wraps(func)
    def for_round(*args, **kwargs):
        return func(*args, round_number=round_number, **kwargs)

    return for_round
