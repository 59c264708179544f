"""Kedro pipelines: thin nodes around the library modules."""
