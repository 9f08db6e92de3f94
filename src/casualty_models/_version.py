"""Single source of the library version."""

__version__ = "0.1.0"
