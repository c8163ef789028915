"""gallery change log, pending identities

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gallery_changes",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("identity_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gallery_changes")),
    )
    op.create_index(op.f("ix_gallery_changes_identity_id"), "gallery_changes", ["identity_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_gallery_changes_identity_id"), table_name="gallery_changes")
    op.drop_table("gallery_changes")
