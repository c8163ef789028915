"""The face factor: a photo taken at the counter against the template enrolled for the UIN.

The probe was already encoded (in the face pool, before the transaction); here it is compared
with the identity's opened template at the threshold calibrated for `face_fmr_target` of the
template's model. During a migration to another model an identity not yet re-encoded is
compared with the probe's template of its old model (the server loads both), never across
models. A non-match is the opaque 401; its distance and threshold go to the audit log only.
"""

from __future__ import annotations

from authd.authentication.factors import FactorContext, FactorResult
from authd.errors import Refused
from authd.faces.gallery import open_template
from authd.faces.service import FaceService, Probe
from authd.registry import subjects
from matching.templates import Template

FACTOR = "face"


def check(ctx: FactorContext, probe: Probe) -> FactorResult:
    if ctx.state.faces is None:
        raise Refused("face_matching_unavailable")
    if ctx.purpose == "auth" and subjects.is_locked(ctx.identity, FACTOR):
        raise Refused("auth_type_locked")
    if ctx.identity.template is None:
        raise Refused("face_not_enrolled")
    enrolled = open_template(ctx.state.sealer, ctx.identity)
    faces, template = _same_model(ctx, probe, enrolled.model_id)
    match = faces.compare(template, enrolled)
    detail = {"distance": round(match.distance, 4), "threshold": round(match.threshold, 4),
              "model": faces.name}
    if not match.matched:
        ctx.record_failure()
        raise Refused("face_mismatch", **detail)
    return FactorResult(FACTOR, detail=detail)


def _same_model(ctx: FactorContext, probe: Probe, model: str) -> tuple[FaceService, Template]:
    """The service and probe template of the enrolled template's model, or a refusal."""
    services = [ctx.state.faces, *(old.service for old in ctx.state.legacy_faces)]
    service = next((s for s in services if s is not None and s.model_id == model), None)
    template = probe.for_model(model)
    if service is None or template is None:
        raise Refused("face_model_unavailable", model=model)
    if isinstance(template, str):  # the old model's quality gate refused the photo
        raise Refused(template, model=service.name)
    return service, template
