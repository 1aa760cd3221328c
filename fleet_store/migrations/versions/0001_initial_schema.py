"""Initial schema: checkpoints, lpr_detections, health_monitors, connection_events.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 08:30:10.505083
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('checkpoints',
    sa.Column('checkpoint_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), server_default='', nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True, comment='sha256 hex of the ingest token; NULL for anonymous legacy senders'),
    sa.Column('token_hint', sa.String(length=16), server_default='', nullable=False, comment='first characters of the token, to tell tokens apart in listings'),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='never', nullable=False, comment='never | online | offline'),
    sa.Column('connected', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('hostname', sa.String(length=255), server_default='', nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('heartbeat_seconds', sa.Integer(), nullable=True, comment='silence longer than this marks the checkpoint offline; NULL: OFFLINE_AFTER_SECONDS'),
    sa.PrimaryKeyConstraint('checkpoint_id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('health_monitors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('checkpoint_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('hostname', sa.String(length=255), server_default='', nullable=False),
    sa.Column('timestamp', sa.DateTime(), nullable=False),
    sa.Column('component', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False, comment='PASS | WARN | FAIL'),
    sa.Column('message', sa.Text(), server_default='', nullable=False),
    sa.Column('system_info', sa.JSON(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('checkpoint_id', 'event_id', name='uq_health_monitors_event')
    )
    with op.batch_alter_table('health_monitors', schema=None) as batch_op:
        batch_op.create_index('ix_health_monitors_checkpoint_time', ['checkpoint_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_health_monitors_received_at', ['received_at'], unique=False)

    op.create_table('lpr_detections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('checkpoint_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('license_plate', sa.String(length=32), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('timestamp', sa.DateTime(), nullable=False),
    sa.Column('hostname', sa.String(length=255), server_default='', nullable=False),
    sa.Column('vehicle_type', sa.String(length=64), server_default='', nullable=False),
    sa.Column('vehicle_color', sa.String(length=64), server_default='', nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('image_path', sa.String(length=512), nullable=True, comment='relative to IMAGE_DIR'),
    sa.Column('image_sha256', sa.String(length=64), nullable=True),
    sa.Column('image_size', sa.Integer(), nullable=True),
    sa.Column('exposure_time', sa.Float(), nullable=True),
    sa.Column('analog_gain', sa.Float(), nullable=True),
    sa.Column('lux', sa.Float(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True, comment='fields a sender added beyond v1'),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('checkpoint_id', 'event_id', name='uq_lpr_detections_event')
    )
    with op.batch_alter_table('lpr_detections', schema=None) as batch_op:
        batch_op.create_index('ix_lpr_detections_checkpoint_time', ['checkpoint_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_lpr_detections_plate', ['license_plate'], unique=False)
        batch_op.create_index('ix_lpr_detections_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_lpr_detections_timestamp', ['timestamp'], unique=False)

    op.create_table('connection_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('checkpoint_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False, comment='connected | disconnected | online | offline | refused'),
    sa.Column('remote', sa.String(length=64), server_default='', nullable=False),
    sa.Column('detail', sa.String(length=255), server_default='', nullable=False),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoints.checkpoint_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('connection_events', schema=None) as batch_op:
        batch_op.create_index('ix_connection_events_checkpoint_at', ['checkpoint_id', 'at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('connection_events', schema=None) as batch_op:
        batch_op.drop_index('ix_connection_events_checkpoint_at')

    op.drop_table('connection_events')
    with op.batch_alter_table('lpr_detections', schema=None) as batch_op:
        batch_op.drop_index('ix_lpr_detections_timestamp')
        batch_op.drop_index('ix_lpr_detections_received_at')
        batch_op.drop_index('ix_lpr_detections_plate')
        batch_op.drop_index('ix_lpr_detections_checkpoint_time')

    op.drop_table('lpr_detections')
    with op.batch_alter_table('health_monitors', schema=None) as batch_op:
        batch_op.drop_index('ix_health_monitors_received_at')
        batch_op.drop_index('ix_health_monitors_checkpoint_time')

    op.drop_table('health_monitors')
    op.drop_table('checkpoints')

