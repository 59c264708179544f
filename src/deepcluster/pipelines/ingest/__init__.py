"""Read the configured image source into an ``ImageCollection``."""
