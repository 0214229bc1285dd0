"""ci: artifacts and caches

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ci_artifact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('pipeline_id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('file_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('expire_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['ci_job.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pipeline_id'], ['ci_pipeline.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'file_type', 'filename')
    )
    with op.batch_alter_table('ci_artifact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_artifact_expire_at'), ['expire_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_artifact_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_artifact_pipeline_id'), ['pipeline_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_artifact_repo_id'), ['repo_id'], unique=False)

    op.create_table('ci_artifact_data',
    sa.Column('artifact_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['ci_artifact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artifact_id')
    )

    op.create_table('ci_cache',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('storage_key', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('repo_id', 'key')
    )
    with op.batch_alter_table('ci_cache', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_cache_last_used_at'), ['last_used_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_cache_repo_id'), ['repo_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ci_cache', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_cache_repo_id'))
        batch_op.drop_index(batch_op.f('ix_ci_cache_last_used_at'))
    op.drop_table('ci_cache')
    op.drop_table('ci_artifact_data')
    with op.batch_alter_table('ci_artifact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_artifact_repo_id'))
        batch_op.drop_index(batch_op.f('ix_ci_artifact_pipeline_id'))
        batch_op.drop_index(batch_op.f('ix_ci_artifact_job_id'))
        batch_op.drop_index(batch_op.f('ix_ci_artifact_expire_at'))
    op.drop_table('ci_artifact')
