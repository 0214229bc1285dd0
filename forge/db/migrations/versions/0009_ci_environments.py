"""ci: environments and deployments

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ci_environment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('external_url', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('tier', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('auto_stop_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('repo_id', 'name')
    )
    with op.batch_alter_table('ci_environment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_environment_repo_id'), ['repo_id'], unique=False)

    op.create_table('ci_deployment_counter',
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('last_iid', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('repo_id')
    )

    op.create_table('ci_deployment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('iid', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('pipeline_id', sa.Integer(), nullable=True),
    sa.Column('sha', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('ref_kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('on_stop', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('redeploy_of_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('finished_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['environment_id'], ['ci_environment.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['ci_job.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pipeline_id'], ['ci_pipeline.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['redeploy_of_id'], ['ci_deployment.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['account.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id'),
    sa.UniqueConstraint('repo_id', 'iid')
    )
    with op.batch_alter_table('ci_deployment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_deployment_environment_id'), ['environment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_deployment_pipeline_id'), ['pipeline_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_deployment_repo_id'), ['repo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_deployment_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ci_deployment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_deployment_status'))
        batch_op.drop_index(batch_op.f('ix_ci_deployment_repo_id'))
        batch_op.drop_index(batch_op.f('ix_ci_deployment_pipeline_id'))
        batch_op.drop_index(batch_op.f('ix_ci_deployment_environment_id'))
    op.drop_table('ci_deployment')
    op.drop_table('ci_deployment_counter')
    with op.batch_alter_table('ci_environment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_environment_repo_id'))
    op.drop_table('ci_environment')
