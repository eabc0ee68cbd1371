"""The package version, in a leaf module so library code can read it without importing the top-level package."""

__version__ = "0.1.0"
