"""Dashboard: users, watchlist, partial-plate search indexes, latest-health index.

SQLite: an external-content FTS5 table with the trigram tokenizer over
``lpr_detections.license_plate`` (kept in step by triggers; existing rows are
indexed by 'rebuild'). PostgreSQL: the pg_trgm extension and a GIN trigram
index. Both make ``LIKE '%part%'`` fast for parts of three characters or more.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE lpr_detections_plate_fts USING fts5("
    "license_plate, content='lpr_detections', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER lpr_detections_fts_ai AFTER INSERT ON lpr_detections BEGIN "
    "INSERT INTO lpr_detections_plate_fts(rowid, license_plate) VALUES (new.id, new.license_plate); END",
    "CREATE TRIGGER lpr_detections_fts_ad AFTER DELETE ON lpr_detections BEGIN "
    "INSERT INTO lpr_detections_plate_fts(lpr_detections_plate_fts, rowid, license_plate) "
    "VALUES ('delete', old.id, old.license_plate); END",
    "CREATE TRIGGER lpr_detections_fts_au AFTER UPDATE OF license_plate ON lpr_detections BEGIN "
    "INSERT INTO lpr_detections_plate_fts(lpr_detections_plate_fts, rowid, license_plate) "
    "VALUES ('delete', old.id, old.license_plate); "
    "INSERT INTO lpr_detections_plate_fts(rowid, license_plate) VALUES (new.id, new.license_plate); END",
    "INSERT INTO lpr_detections_plate_fts(lpr_detections_plate_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS lpr_detections_fts_au",
    "DROP TRIGGER IF EXISTS lpr_detections_fts_ad",
    "DROP TRIGGER IF EXISTS lpr_detections_fts_ai",
    "DROP TABLE IF EXISTS lpr_detections_plate_fts",
]
PG_UP = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS ix_lpr_detections_plate_trgm ON lpr_detections "
    "USING gin (license_plate gin_trgm_ops)",
]
PG_DOWN = ["DROP INDEX IF EXISTS ix_lpr_detections_plate_trgm"]


def upgrade() -> None:
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False, comment='werkzeug scrypt hash'),
    sa.Column('role', sa.String(length=16), server_default='viewer', nullable=False, comment='admin | viewer'),
    sa.Column('locale', sa.String(length=8), nullable=True, comment='th | en; NULL follows the browser'),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('watchlist',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('pattern', sa.String(length=64), nullable=False,
              comment='plate, or a pattern with * and ?; compared without spaces/dashes, case-insensitively'),
    sa.Column('note', sa.String(length=255), server_default='', nullable=False),
    sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pattern')
    )
    op.create_index('ix_health_monitors_latest', 'health_monitors', ['checkpoint_id', 'component', 'id'])
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_UP if dialect == 'sqlite' else PG_UP if dialect == 'postgresql' else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DOWN if dialect == 'sqlite' else PG_DOWN if dialect == 'postgresql' else []:
        op.execute(statement)
    op.drop_index('ix_health_monitors_latest', table_name='health_monitors')
    op.drop_table('watchlist')
    op.drop_table('users')
