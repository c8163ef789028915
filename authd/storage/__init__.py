"""Records: SQLAlchemy 2 models, engine and Alembic migrations (SQLite or PostgreSQL)."""
