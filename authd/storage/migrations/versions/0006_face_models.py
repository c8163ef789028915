"""face models: the model of pending templates, face model migrations

Revision ID: 0006_face_models
Revises: 0005_audit_sequencer
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_face_models"
down_revision = "0005_audit_sequencer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_migrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("to_model", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_migrations")),
    )
    with op.batch_alter_table("dedup_cases") as batch:
        batch.add_column(sa.Column("template_model", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_identities_template_model"), "identities", ["template_model"])
    # Before this revision dlib's ResNet was the only model; every template is one of its.
    op.execute("UPDATE identities SET template_model = 'dlib_resnet_v1' "
               "WHERE template IS NOT NULL AND template_model IS NULL")
    op.execute("UPDATE dedup_cases SET template_model = 'dlib_resnet_v1' "
               "WHERE pending_template IS NOT NULL")


def downgrade() -> None:
    op.drop_index(op.f("ix_identities_template_model"), table_name="identities")
    with op.batch_alter_table("dedup_cases") as batch:
        batch.drop_column("template_model")
    op.drop_table("face_migrations")
