"""Alembic environment: runs on the connection that fleet_store.db hands over."""

from alembic import context

from fleet_store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # plain `alembic` CLI use: build an engine from the ini's URL
    from fleet_store.db import make_engine

    engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
    connection = engine.connect()

context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
