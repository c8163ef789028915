"""OTP supersession and the in-database rate limiter's token buckets

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("otp_transactions") as batch_op:
        batch_op.add_column(sa.Column("superseded_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
    )
    op.create_index(op.f("ix_rate_buckets_updated_at"), "rate_buckets", ["updated_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_buckets_updated_at"), table_name="rate_buckets")
    op.drop_table("rate_buckets")
    with op.batch_alter_table("otp_transactions") as batch_op:
        batch_op.drop_column("superseded_at")
