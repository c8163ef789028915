"""Records: `models` (the SQLAlchemy 2 schema), `db` (engine, sessions, migrations on start;
SQLite or PostgreSQL), `housekeeping` (the periodic purge of expired rows) and `migrations/`
(Alembic).
"""
