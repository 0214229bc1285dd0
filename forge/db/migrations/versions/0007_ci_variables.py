"""ci: CI/CD variables

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ci_variable',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('value_sealed', sa.Text(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('masked', sa.Boolean(), nullable=False),
    sa.Column('protected', sa.Boolean(), nullable=False),
    sa.Column('is_file', sa.Boolean(), nullable=False),
    sa.Column('raw', sa.Boolean(), nullable=False),
    sa.Column('environment_scope', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['account.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner_id', 'key', 'environment_scope', name='uq_ci_variable_owner_key_scope'),
    sa.UniqueConstraint('repo_id', 'key', 'environment_scope', name='uq_ci_variable_repo_key_scope')
    )
    with op.batch_alter_table('ci_variable', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_variable_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_variable_repo_id'), ['repo_id'], unique=False)

    op.create_table('ci_job_secrets',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('masked_sealed', sa.Text(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['ci_job.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id')
    )


def downgrade() -> None:
    op.drop_table('ci_job_secrets')
    with op.batch_alter_table('ci_variable', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_variable_repo_id'))
        batch_op.drop_index(batch_op.f('ix_ci_variable_owner_id'))
    op.drop_table('ci_variable')
