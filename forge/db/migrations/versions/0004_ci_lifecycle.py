"""ci: lifecycle: resource groups, automatic retries, redundant pipelines canceled

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ci_resource_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('process_mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('holder_job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['holder_job_id'], ['ci_job.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('repo_id', 'key')
    )
    with op.batch_alter_table('ci_resource_group', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_resource_group_repo_id'), ['repo_id'], unique=False)

    op.create_table('ci_job_auto_retry',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('retried_job_id', sa.Integer(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['ci_job.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['retried_job_id'], ['ci_job.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('job_id')
    )

    op.create_table('ci_pipeline_auto_cancel',
    sa.Column('pipeline_id', sa.Integer(), nullable=False),
    sa.Column('by_pipeline_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['by_pipeline_id'], ['ci_pipeline.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pipeline_id'], ['ci_pipeline.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pipeline_id')
    )


def downgrade() -> None:
    op.drop_table('ci_pipeline_auto_cancel')
    op.drop_table('ci_job_auto_retry')
    with op.batch_alter_table('ci_resource_group', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_resource_group_repo_id'))
    op.drop_table('ci_resource_group')
