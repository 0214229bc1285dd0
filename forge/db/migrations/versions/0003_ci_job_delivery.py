"""ci: job columns for CI delivery (interruptible, resource group, environment, delayed start, coverage)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 08:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ci_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interruptible', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('resource_group', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('environment', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('scheduled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('coverage', sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ci_job_environment'), ['environment'], unique=False)
        # "waiting_for_resource" is longer than the 16 characters the first states needed.
        batch_op.alter_column('status', existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=24), existing_nullable=False)
    with op.batch_alter_table('ci_pipeline', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sqlmodel.sql.sqltypes.AutoString(length=16),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=24), existing_nullable=False)
    # The server defaults only fill the existing rows; the models give new rows their values.
    with op.batch_alter_table('ci_job', schema=None) as batch_op:
        batch_op.alter_column('interruptible', server_default=None)
        batch_op.alter_column('resource_group', server_default=None)
        batch_op.alter_column('environment', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('ci_pipeline', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sqlmodel.sql.sqltypes.AutoString(length=24),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=16), existing_nullable=False)
    with op.batch_alter_table('ci_job', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=sqlmodel.sql.sqltypes.AutoString(length=24),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=16), existing_nullable=False)
        batch_op.drop_index(batch_op.f('ix_ci_job_environment'))
        batch_op.drop_column('coverage')
        batch_op.drop_column('scheduled_at')
        batch_op.drop_column('environment')
        batch_op.drop_column('resource_group')
        batch_op.drop_column('interruptible')
