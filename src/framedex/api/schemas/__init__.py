"""Wire schemas: the exact JSON of the real API (see shared/reference/twelvelabs-api-1.3.md)."""
