"""The system of record: the case store, the notification store, the database engine
and the schema's migrations (Alembic, ``store/migrations/``)."""
