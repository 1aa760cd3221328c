"""The whole plate record: province, its score, the raw read and the plate crop; checkpoint sites.

``lpr_detections`` gets ``province`` (indexed), ``province_confidence``,
``plate_raw`` and the plate crop's file (``plate_image_path`` with sha256 and
size, like the scene). A ``province`` or ``plate_raw`` that senders put in the
``extra`` JSON before these columns existed moves into them. ``checkpoints``
gets ``site``; a watchlist entry may name a province (unique per pattern and
province). ``connection_events`` records the checkpoint's state right after
each event, so a dashboard following the database announces what the ingest
announced, not whatever the state is when it reads the row.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

MOVE_FROM_EXTRA = {
    'sqlite': [
        "UPDATE lpr_detections SET province = substr(coalesce(json_extract(extra, '$.province'), ''), 1, 64), "
        "plate_raw = substr(coalesce(json_extract(extra, '$.plate_raw'), ''), 1, 64), "
        "extra = nullif(json_remove(extra, '$.province', '$.plate_raw'), '{}') "
        "WHERE json_valid(extra) AND (json_type(extra, '$.province') = 'text' "
        "OR json_type(extra, '$.plate_raw') = 'text')",
    ],
    'postgresql': [
        "UPDATE lpr_detections SET province = left(coalesce(extra->>'province', ''), 64), "
        "plate_raw = left(coalesce(extra->>'plate_raw', ''), 64), "
        "extra = nullif((extra::jsonb - 'province' - 'plate_raw')::text, '{}')::json "
        "WHERE json_typeof(extra) = 'object' AND (json_typeof(extra->'province') = 'string' "
        "OR json_typeof(extra->'plate_raw') = 'string')",
    ],
}


UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    op.add_column('lpr_detections', sa.Column('province', sa.String(length=64), server_default='', nullable=False,
                                              comment='Thai province name; empty when not read'))
    op.add_column('lpr_detections', sa.Column('province_confidence', sa.Float(), nullable=True))
    op.add_column('lpr_detections', sa.Column('plate_raw', sa.String(length=64), server_default='', nullable=False))
    op.add_column('lpr_detections', sa.Column('plate_image_path', sa.String(length=512), nullable=True,
                                              comment='plate crop, relative to IMAGE_DIR'))
    op.add_column('lpr_detections', sa.Column('plate_image_sha256', sa.String(length=64), nullable=True))
    op.add_column('lpr_detections', sa.Column('plate_image_size', sa.Integer(), nullable=True))
    op.create_index('ix_lpr_detections_province', 'lpr_detections', ['province'])
    op.add_column('connection_events', sa.Column('status', sa.String(length=16), nullable=True,
                                                 comment="the checkpoint's status right after the event"))
    op.add_column('connection_events', sa.Column('connected', sa.Boolean(), nullable=True,
                                                 comment='whether it had an open connection right after'))
    op.add_column('checkpoints', sa.Column('site', sa.String(length=64), server_default='', nullable=False,
                                           comment='the site the gate belongs to'))
    # SQLite's unique constraint on pattern has no name: the naming convention gives it one to drop.
    with op.batch_alter_table('watchlist', naming_convention=UNNAMED) as batch:
        batch.add_column(sa.Column('province', sa.String(length=64), server_default='', nullable=False,
                                   comment='empty: any province'))
        batch.drop_constraint('uq_watchlist_pattern' if op.get_bind().dialect.name == 'sqlite'
                              else 'watchlist_pattern_key', type_='unique')
        batch.create_unique_constraint('uq_watchlist_pattern_province', ['pattern', 'province'])
    for statement in MOVE_FROM_EXTRA.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table('watchlist') as batch:
        batch.drop_constraint('uq_watchlist_pattern_province', type_='unique')
        batch.drop_column('province')
    op.drop_column('checkpoints', 'site')
    op.drop_column('connection_events', 'connected')
    op.drop_column('connection_events', 'status')
    op.drop_index('ix_lpr_detections_province', 'lpr_detections')
    for column in ('plate_image_size', 'plate_image_sha256', 'plate_image_path', 'plate_raw',
                   'province_confidence', 'province'):
        op.drop_column('lpr_detections', column)
