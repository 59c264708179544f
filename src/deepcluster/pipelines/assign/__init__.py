"""Assign: new images placed by a trained run (``kedro run --pipeline assign``)."""
