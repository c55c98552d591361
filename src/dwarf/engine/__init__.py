"""The engine: lifecycle, operations and dependency types (not yet implemented)."""
