"""The face factor: a photo taken at the counter against the template enrolled for the UIN.

The probe was already encoded (in the face pool, before the transaction); here it is compared
with the identity's opened template at the threshold calibrated for `face_fmr_target`. A
non-match is the opaque 401; its distance and threshold go to the audit log only.
"""

from __future__ import annotations

from typing import Any

from authd import subjects
from authd.factors import FactorContext, FactorFailed, FactorResult
from authd.gallery import open_template
from matching.templates import Template

FACTOR = "face"


class FaceRefused(FactorFailed):
    def __init__(self, reason: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(reason, FACTOR)
        self.detail = detail or {}


def check(ctx: FactorContext, probe: Template) -> FactorResult:
    faces = ctx.state.faces
    if faces is None:
        raise FaceRefused("face_matching_unavailable")
    if ctx.purpose == "auth" and subjects.is_locked(ctx.identity, FACTOR):
        raise FaceRefused("auth_type_locked")
    if ctx.identity.template is None:
        raise FaceRefused("face_not_enrolled")
    match = faces.compare(probe, open_template(ctx.state.sealer, ctx.identity))
    detail = {"distance": round(match.distance, 4), "threshold": round(match.threshold, 4)}
    if not match.matched:
        ctx.record_failure()
        raise FaceRefused("face_mismatch", detail)
    return FactorResult(FACTOR, True, detail=detail)
