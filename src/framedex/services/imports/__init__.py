"""Imports from storage: operator-declared integrations (`sources`) and the `tasks.transfers` calls
(`transfers`). See docs/imports.md."""
