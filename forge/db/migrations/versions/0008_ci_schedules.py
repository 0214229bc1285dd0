"""ci: pipeline schedules and trigger tokens

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ci_pipeline_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('cron', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('variables', sa.JSON(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('next_run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_run_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('last_error_params', sa.JSON(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ci_pipeline_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_pipeline_schedule_next_run_at'), ['next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_pipeline_schedule_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ci_pipeline_schedule_repo_id'), ['repo_id'], unique=False)

    op.create_table('ci_trigger_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo_id', sa.Integer(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('token_prefix', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['account.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['repo_id'], ['repository.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('ci_trigger_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ci_trigger_token_repo_id'), ['repo_id'], unique=False)

    # SQLite rebuilds the table for the new foreign key (batch mode), which is why the constraint is named.
    with op.batch_alter_table('ci_pipeline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ci_pipeline_schedule_id'), ['schedule_id'], unique=False)
        batch_op.create_foreign_key('fk_ci_pipeline_schedule_id', 'ci_pipeline_schedule', ['schedule_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('ci_pipeline', schema=None) as batch_op:
        batch_op.drop_constraint('fk_ci_pipeline_schedule_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_ci_pipeline_schedule_id'))
        batch_op.drop_column('schedule_id')
    with op.batch_alter_table('ci_trigger_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_trigger_token_repo_id'))
    op.drop_table('ci_trigger_token')
    with op.batch_alter_table('ci_pipeline_schedule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ci_pipeline_schedule_repo_id'))
        batch_op.drop_index(batch_op.f('ix_ci_pipeline_schedule_owner_id'))
        batch_op.drop_index(batch_op.f('ix_ci_pipeline_schedule_next_run_at'))
    op.drop_table('ci_pipeline_schedule')
