"""Which face models the gallery holds, and which ones this server must load.

Templates of two models are never compared (matching.templates refuses), so every template
row records its model (`identities.template_model`), each model has its own index file, and
a server whose configured model (`AUTHD_FACE_MODEL`) differs from the gallery's refuses to
start, unless a migration to the configured model is under way (`authd faces migrate`): then
it loads the old models too, so identities not yet re-encoded authenticate 1:1 on their old
template and enrollments are deduplicated against every gallery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from authd.errors import AuthdError
from authd.settings import Settings
from authd.storage.models import FaceMigration, Identity
from matching.encoder import ENCODERS, MODEL_IDS

__all__ = ["MODEL_IDS", "FaceModelMismatch", "ModelPlan", "dimension", "index_path",
           "migration_under_way", "model_id", "model_name", "plan_models", "template_counts"]


class FaceModelMismatch(AuthdError):
    code, status_code = "face_model_mismatch", 503
    message = "The face gallery was enrolled with another face model."


def model_id(name: str) -> str:
    if name not in MODEL_IDS:
        raise FaceModelMismatch(f"Unknown face model {name!r}: one of {', '.join(MODEL_IDS)}.")
    return MODEL_IDS[name]


def dimension(name: str) -> int:
    return int(ENCODERS[name].dimension)


def model_name(model: str) -> str:
    """The setting name of a model id found in the database."""
    for name, mid in MODEL_IDS.items():
        if mid == model:
            return name
    raise FaceModelMismatch(f"The gallery holds templates of model {model!r}, which this "
                            "version of authd cannot load.")


def index_path(settings: Settings, name: str) -> Path:
    """data_dir/faces-MODEL.index (or AUTHD_INDEX_FILE with the model in its name)."""
    base = settings.index_file or settings.data_dir / "faces.index"
    return base.with_name(f"{base.stem}-{name}{base.suffix}")


def template_counts(session: Session) -> dict[str, int]:
    """Active identities' templates per model id."""
    rows = session.execute(select(Identity.template_model, func.count()).where(
        Identity.status == "active", Identity.template.is_not(None)
    ).group_by(Identity.template_model)).all()
    return {str(model): int(count) for model, count in rows}


def migration_under_way(session: Session) -> FaceMigration | None:
    return session.execute(select(FaceMigration).where(
        FaceMigration.finished_at.is_(None)).order_by(FaceMigration.id.desc())
    ).scalars().first()


@dataclass(frozen=True)
class ModelPlan:
    current: str  # setting name of the configured model
    legacy: tuple[str, ...]  # older models still holding templates (a migration under way)


def plan_models(settings: Settings, session: Session) -> ModelPlan:
    """The models to load: the configured one, plus the old ones during a migration to it;
    FaceModelMismatch (saying what to do) when the gallery holds another model's templates
    and no migration to the configured model is under way."""
    current = settings.face_model
    counts = template_counts(session)
    others = {m: n for m, n in counts.items() if m != model_id(current)}
    if not others:
        return ModelPlan(current, ())
    migration = migration_under_way(session)
    if migration is not None and migration.to_model == current:
        return ModelPlan(current, tuple(sorted(model_name(m) for m in others)))
    held = ", ".join(f"{n} of model {m}" for m, n in sorted(others.items()))
    if migration is not None:
        raise FaceModelMismatch(
            f"A migration to face model {migration.to_model} is under way but "
            f"AUTHD_FACE_MODEL={current}: set AUTHD_FACE_MODEL={migration.to_model}.")
    raise FaceModelMismatch(
        f"The face gallery holds templates of another model ({held}) but "
        f"AUTHD_FACE_MODEL={current}: run `authd faces migrate --to {current}` to re-encode "
        f"them from their kept photos, or set AUTHD_FACE_MODEL back.")
