"""dedup cases: key holders, candidate sets, thresholds, remembered distinct pairs

Revision ID: 0007_dedup_cases
Revises: 0006_face_models
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_dedup_cases"
down_revision = "0006_face_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("holder", sa.String(length=100), nullable=True))
    with op.batch_alter_table("dedup_cases") as batch:
        batch.add_column(sa.Column("opened_holder", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("resolved_holder", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("candidate_set", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("threshold", sa.Float(), nullable=True))
        batch.add_column(sa.Column("threshold_fmr", sa.Float(), nullable=True))
    op.create_index("ix_dedup_cases_open_set", "dedup_cases",
                    ["identity_id", "candidate_set", "status"])
    op.create_table(
        "dedup_distinct_pairs",
        sa.Column("low_id", sa.BigInteger(), nullable=False),
        sa.Column("high_id", sa.BigInteger(), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("low_id", "high_id", name=op.f("pk_dedup_distinct_pairs")),
    )
    op.create_index(op.f("ix_dedup_distinct_pairs_high_id"), "dedup_distinct_pairs", ["high_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dedup_distinct_pairs_high_id"), table_name="dedup_distinct_pairs")
    op.drop_table("dedup_distinct_pairs")
    op.drop_index("ix_dedup_cases_open_set", table_name="dedup_cases")
    with op.batch_alter_table("dedup_cases") as batch:
        for column in ("threshold_fmr", "threshold", "candidate_set", "resolved_holder",
                       "opened_holder"):
            batch.drop_column(column)
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("holder")
