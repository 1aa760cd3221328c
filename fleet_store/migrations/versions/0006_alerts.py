"""Stored alerts and their durable delivery queue; API keys for the dashboard's REST API.

``alerts`` holds one row per alert (watchlist hit or a checkpoint condition)
with who acknowledged it and when it closed; a partial unique index keeps one
open alert per rule and subject. ``alert_deliveries`` is the outbox of pushed
notifications (webhook, LINE, e-mail, MQTT), one row per alert, event and channel.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'alerts',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('rule', sa.String(length=32), nullable=False,
                  comment='watchlist | offline | silent | health_fail | clock_skew'),
        sa.Column('subject', sa.String(length=160), nullable=False,
                  comment='what it is about: plate:ABC1234, checkpoint:ID, checkpoint:ID/component'),
        sa.Column('checkpoint_id', sa.String(length=64), nullable=True,
                  comment='the checkpoint concerned (the latest, for hits)'),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('last_at', sa.DateTime(), nullable=False, comment='the latest occurrence while open'),
        sa.Column('occurrences', sa.Integer(), server_default='1', nullable=False,
                  comment='hits or checks that found the condition while the alert was open'),
        sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
        sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True, comment='NULL: open'),
        sa.Column('detail', sa.JSON(), nullable=True, comment='rule-specific facts (docs/alerts.md)'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_alerts_open', 'alerts', ['rule', 'subject'], unique=True,
                    sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
    op.create_index('ix_alerts_opened_at', 'alerts', ['opened_at'])
    op.create_table(
        'alert_deliveries',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('alert_id', BigId, nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False, comment='webhook | line | email | mqtt'),
        sa.Column('event', sa.String(length=16), nullable=False, comment='opened | closed'),
        sa.Column('idempotency_key', sa.String(length=96), nullable=False,
                  comment='alert-<id>-<event>-<channel>: sent with every attempt so receivers can drop repeats'),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False,
                  comment='due time; a claimed delivery is pushed ahead by the lease'),
        sa.Column('last_error', sa.String(length=500), server_default='', nullable=False),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.Column('failed_at', sa.DateTime(), nullable=True, comment='set when the receiver refused it for good'),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('idempotency_key'),
    )
    op.create_index('ix_alert_deliveries_due', 'alert_deliveries', ['delivered_at', 'failed_at', 'next_attempt_at'])
    op.create_index('ix_alert_deliveries_alert', 'alert_deliveries', ['alert_id'])
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False,
                  comment="who uses it, e.g. 'grafana', 'parking-system'"),
        sa.Column('key_hash', sa.String(length=64), nullable=False,
                  comment='sha256 hex of the key; the key is shown once'),
        sa.Column('key_hint', sa.String(length=16), server_default='', nullable=False,
                  comment='first characters, to tell keys apart'),
        sa.Column('role', sa.String(length=16), server_default='viewer', nullable=False, comment='viewer | admin'),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.Column('last_used_at', sa.DateTime(), nullable=True, comment='updated at most once a minute'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
        sa.UniqueConstraint('key_hash'),
    )


def downgrade() -> None:
    op.drop_table('api_keys')
    op.drop_table('alert_deliveries')
    op.drop_table('alerts')
