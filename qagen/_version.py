"""The package version (a module of its own so that every layer can read it without importing
the composition root, qagen/__init__.py)."""

__version__ = "0.1.0"
