"""Security review: per-user session version, operator-allowed anonymous checkpoint ids.

``users.session_version`` is part of every login (Flask-Login id ``"<id>:<version>"``);
bumping it ends every session of that user. ``checkpoints.anonymous_allowed`` lists
the ids a tokenless sender may use when ``INGEST_ALLOW_ANONYMOUS=1``. Rows that an
anonymous sender created before this revision (never given a token) stay allowed,
so a migration in progress keeps working; ``checkpoints add`` gives them a token.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False,
                                   comment="bumped on logout, password change and 'users logout': "
                                           "older logins stop working (0004)"))
    with op.batch_alter_table('checkpoints') as batch:
        batch.add_column(sa.Column('anonymous_allowed', sa.Boolean(), server_default='0', nullable=False,
                                   comment='1: a tokenless sender may write as this id '
                                           '(INGEST_ALLOW_ANONYMOUS=1; revision 0004)'))
    op.execute("UPDATE checkpoints SET anonymous_allowed = TRUE WHERE token_hash IS NULL "
               "AND token_hint = '' AND revoked_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('checkpoints') as batch:
        batch.drop_column('anonymous_allowed')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('session_version')
