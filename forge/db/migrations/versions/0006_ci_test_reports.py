"""ci: test reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ci_test_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('pipeline_id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('passed', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('errored', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('files', sa.Integer(), nullable=False),
    sa.Column('notes', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['ci_job.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pipeline_id'], ['ci_pipeline.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id')
    )
    with op.batch_alter_table('ci_test_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_test_report_pipeline_id'), ['pipeline_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_test_report_repo_id'), ['repo_id'], unique=False)

    op.create_table('ci_test_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('pipeline_id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('suite', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('classname', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('file', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('output', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['ci_job.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pipeline_id'], ['ci_pipeline.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ci_test_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_test_case_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_test_case_pipeline_id'), ['pipeline_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_test_case_repo_id'), ['repo_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ci_test_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_test_case_repo_id'))
        batch_op.drop_index(batch_op.f('ix_ci_test_case_pipeline_id'))
        batch_op.drop_index(batch_op.f('ix_ci_test_case_job_id'))
    op.drop_table('ci_test_case')
    with op.batch_alter_table('ci_test_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_test_report_repo_id'))
        batch_op.drop_index(batch_op.f('ix_ci_test_report_pipeline_id'))
    op.drop_table('ci_test_report')
