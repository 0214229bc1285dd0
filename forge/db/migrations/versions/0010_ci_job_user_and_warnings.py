"""ci: who a job runs for, and the pipeline file's warnings

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 09:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ci_pipeline', schema=None) as batch_op:
        batch_op.add_column(sa.Column('config_warnings', sa.JSON(), nullable=True))
    with op.batch_alter_table('ci_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('user_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_ci_job_user_id_account', 'account', ['user_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('ci_job', schema=None) as batch_op:
        batch_op.drop_constraint('fk_ci_job_user_id_account', type_='foreignkey')
        batch_op.drop_column('user_id')
    with op.batch_alter_table('ci_pipeline', schema=None) as batch_op:
        batch_op.drop_column('config_warnings')
