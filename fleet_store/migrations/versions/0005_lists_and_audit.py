"""Plate lists and the audit log.

The watchlist gets tags, an expiry, a one-character tolerance and an edit
time; the allow-list (plates a gate lets in, per site or checkpoint) is new
with the same shape; ``audit_log`` records who searched, exported, viewed,
corrected or changed what.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def _list_columns() -> list:
    return [
        sa.Column('tags', sa.String(length=300), server_default='', nullable=False,
                  comment='comma-separated, lower case'),
        sa.Column('expires_at', sa.DateTime(), nullable=True, comment='NULL: never'),
        sa.Column('tolerance', sa.Integer(), server_default='0', nullable=False,
                  comment='1: also one character of difference (watchlist only)'),
        sa.Column('site', sa.String(length=64), server_default='', nullable=False,
                  comment='allow-list: only this site'),
        sa.Column('checkpoint_id', sa.String(length=64), server_default='', nullable=False,
                  comment='allow-list: only this checkpoint'),
        sa.Column('updated_at', sa.DateTime(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table('watchlist') as batch:
        for column in _list_columns():
            batch.add_column(column)
    op.create_table(
        'allowlist',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('pattern', sa.String(length=64), nullable=False,
                  comment='plate, or a pattern with * and ?; compared without spaces/dashes, case-insensitively'),
        sa.Column('province', sa.String(length=64), server_default='', nullable=False,
                  comment='empty: any province'),
        sa.Column('note', sa.String(length=255), server_default='', nullable=False),
        *_list_columns()[:5],
        sa.Column('created_by', sa.String(length=64), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        _list_columns()[5],
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('pattern', 'province', 'site', 'checkpoint_id', name='uq_allowlist_entry'),
    )
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False, comment="user name, 'apikey:NAME' or 'cli'"),
        sa.Column('action', sa.String(length=64), nullable=False,
                  comment='e.g. search, export, view, correct, list.add, login'),
        sa.Column('subject', sa.String(length=255), server_default='', nullable=False,
                  comment='e.g. detection:123, user:bob'),
        sa.Column('plate', sa.String(length=32), nullable=True, comment='the registration the action was about, if any'),
        sa.Column('remote', sa.String(length=64), server_default='', nullable=False, comment='client address'),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_plate', 'audit_log', ['plate'])
    op.create_index('ix_audit_log_actor_at', 'audit_log', ['actor', 'at'])


def downgrade() -> None:
    op.drop_table('audit_log')
    op.drop_table('allowlist')
    with op.batch_alter_table('watchlist') as batch:
        for column in reversed(_list_columns()):
            batch.drop_column(column.name)
