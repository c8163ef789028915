"""failures counted per (identity, relying party, purpose)

Revision ID: 0004_otp_per_rp
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_otp_per_rp"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("rp_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["identities.id"],
                                name=op.f("fk_auth_failures_identity_id_identities")),
        sa.PrimaryKeyConstraint("identity_id", "rp_id", "purpose",
                                name=op.f("pk_auth_failures")),
    )
    op.create_index(op.f("ix_auth_failures_last_at"), "auth_failures", ["last_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_failures_last_at"), table_name="auth_failures")
    op.drop_table("auth_failures")
