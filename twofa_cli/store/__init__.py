"""Persistence: SQLModel tables, the engine factory and schema migrations."""
