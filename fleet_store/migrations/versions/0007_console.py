"""Operator's console: misread corrections, disabled users, legal holds on plates.

``detection_corrections`` keeps every correction of a detection's read (who,
when, before, after); ``lpr_detections`` holds the corrected read, and the first
correction's ``before_*`` is the original. ``users.disabled`` locks an account
without deleting it (its audit trail keeps the name); ``users.sites`` limits a
viewer or editor to the checkpoints of some sites. The audit page filters by
action, hence ``ix_audit_log_action_id``. ``plate_holds`` lists registrations
under a legal hold, which ``plates erase`` refuses to erase.

Revision ID: 0007
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('disabled', sa.Boolean(), server_default='0', nullable=False,
                                   comment='1: cannot log in; existing logins ended (0007)'))
        batch.add_column(sa.Column('sites', sa.String(length=600), server_default='', nullable=False,
                                   comment='comma-separated sites a viewer or editor may see; empty: every site (0007)'))
        batch.alter_column('role', existing_type=sa.String(length=16), existing_nullable=False,
                           existing_server_default='viewer', comment='admin | editor | viewer (0007)')
    op.create_table(
        'detection_corrections',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('detection_id', BigId, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False, comment='the user who corrected the read'),
        sa.Column('before_plate', sa.String(length=32), nullable=False),
        sa.Column('before_province', sa.String(length=64), server_default='', nullable=False),
        sa.Column('after_plate', sa.String(length=32), nullable=False),
        sa.Column('after_province', sa.String(length=64), server_default='', nullable=False),
        sa.Column('note', sa.String(length=255), server_default='', nullable=False),
        sa.ForeignKeyConstraint(['detection_id'], ['lpr_detections.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_detection_corrections_detection', 'detection_corrections', ['detection_id', 'id'])
    op.create_index('ix_detection_corrections_before_plate', 'detection_corrections', ['before_plate'])
    op.create_index('ix_audit_log_action_id', 'audit_log', ['action', 'id'])
    op.create_table(
        'plate_holds',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('plate', sa.String(length=32), nullable=False, comment='normalised (fleet_store.lists.normalise)'),
        sa.Column('province', sa.String(length=64), server_default='', nullable=False,
                  comment='empty: every province'),
        sa.Column('reason', sa.String(length=255), server_default='', nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('plate', 'province', name='uq_plate_holds_plate_province'),
    )


def downgrade() -> None:
    op.drop_table('plate_holds')
    op.drop_index('ix_audit_log_action_id', table_name='audit_log')
    op.drop_table('detection_corrections')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('sites')
        batch.drop_column('disabled')
        batch.alter_column('role', existing_type=sa.String(length=16), existing_nullable=False,
                           existing_server_default='viewer', comment='admin | viewer')
