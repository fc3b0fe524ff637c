"""The package version: a leaf module, so the API and the client can read it without importing `framedex`."""

__version__ = "0.1.0"
