"""The one place the version is written (pyproject reads it from here too)."""

__version__ = "0.1.0"
