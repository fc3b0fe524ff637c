"""framedex: a self-hosted video understanding platform with the Twelve Labs v1.3 API."""

__version__ = "0.1.0"
