"""Photos in requests: read them (multipart `image` or JSON base64) within the size limit,
and encode them in the face pool; a refused photo is audited with its code and re-raised.
"""

from __future__ import annotations

from collections.abc import Awaitable

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from authd.audit.events import AuditContext, AuditRecord, append_alone
from authd.errors import InvalidRequest
from authd.faces.runtime import extract_probe
from authd.faces.service import Probe, decode_b64_image
from authd.http.state import AppState
from matching.errors import ImageTooLarge, MatchingError


async def b64_photo(text: str, state: AppState) -> bytes:
    return decode_b64_image(text, state.settings.face_max_image_bytes)


async def read_photo(request: Request, state: AppState) -> bytes:
    """The photo in the request body, as multipart `image` or JSON `image_b64`."""
    limit = state.settings.face_max_image_bytes
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        image = form.get("image")
        if not isinstance(image, UploadFile):
            raise InvalidRequest("Send the photo as the multipart field `image`.")
        data = await image.read(limit + 1)
        if len(data) > limit:
            raise ImageTooLarge()
        return data
    try:
        body = await request.json()
    except ValueError as exc:
        raise InvalidRequest("Send the photo as multipart `image` or JSON `image_b64`.") from exc
    if not isinstance(body, dict) or set(body) != {"image_b64"} or not isinstance(
            body["image_b64"], str):
        raise InvalidRequest("The JSON body must be exactly {\"image_b64\": \"...\"}.")
    return decode_b64_image(body["image_b64"], limit)


class Photo:
    """Holds the photo's bytes once read, for a deployment that keeps photos (sealed)."""

    data: bytes | None = None

    async def read(self, source: Awaitable[bytes]) -> bytes:
        self.data = await source
        return self.data

    def __repr__(self) -> str:
        return "Photo(...)"


async def encode_photo(state: AppState, photo: Awaitable[bytes], ctx: AuditContext, action: str,
                       uin: str | None = None) -> Probe:
    """The photo's template (per loaded model); a refused photo (unreadable, too large,
    failing the quality gate) is audited and re-raised: the clerk retakes it."""
    if state.faces is None:
        photo.close()  # type: ignore[attr-defined]  # never awaited: say so, quietly
        raise FacesUnavailable()
    try:
        return await extract_probe(state, await photo, ctx.rp_id or "")
    except MatchingError as exc:
        record = AuditRecord(action, "refused", reason=exc.code, uin=uin, factor="face")
        await run_in_threadpool(append_alone, state.db, ctx, record, state.clock.now())
        raise


class FacesUnavailable(InvalidRequest):
    code, status_code, message = "faces_unavailable", 503, "Face matching is not running."
