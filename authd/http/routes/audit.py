"""Audit search for operators (scope `admin`) and the caller's own key (any valid key)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from authd.audit import search
from authd.audit.search import AuditQuery
from authd.http.deps import AdminClient, StateDep, get_client
from authd.http.schemas import COMMON_ERRORS
from authd.http.state import AppState
from authd.registry.clients import Client
from authd.storage.db import transaction

router = APIRouter(prefix="/v1", tags=["audit"])
Epoch = Annotated[int | None, Query(ge=0, description="epoch seconds")]
Word = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class AuditEventOut(BaseModel):
    seq: int
    at: int
    request_id: str
    rp_id: str | None
    action: str
    outcome: str
    reason: str | None = Field(description="the reason code of a refusal or failure")
    subject: str | None = Field(description="the UIN, masked unless the caller has admin "
                                "and named the subject in the query")
    factor: str | None
    detail: dict[str, Any] | None


class AuditPageOut(BaseModel):
    events: list[AuditEventOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class ClientOut(BaseModel):
    rp_id: str
    rp_name: str
    key_id: str
    scopes: list[str]
    allowed_factors: list[str]
    key_expires_at: int


@router.get("/audit/events", response_model=AuditPageOut, responses=COMMON_ERRORS)
async def audit_events(
    client: AdminClient, state: StateDep,
    uin: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    vid: Annotated[str | None, Query(pattern=r"^[0-9]{16}$")] = None,
    rp_id: Word = None, action: Word = None,
    outcome: Literal["success", "failure", "refused"] | None = None,
    reason: Word = None, since: Epoch = None, until: Epoch = None,
    cursor: Annotated[str | None, Query(max_length=18, pattern=r"^[0-9]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=search.MAX_LIMIT)] = 50,
) -> AuditPageOut:
    """Audit events, newest first, filtered; follow `next_cursor` for older ones."""
    query = AuditQuery(uin=uin, vid=vid, rp_id=rp_id, action=action, outcome=outcome,
                       reason=reason, since=since, until=until, cursor=cursor, limit=limit)
    page = await run_in_threadpool(_search, state, client, query)
    return AuditPageOut(events=[AuditEventOut(**vars(e)) for e in page.events],
                        next_cursor=page.next_cursor)


def _search(state: AppState, client: Client, query: AuditQuery) -> search.AuditPage:
    with transaction(state.db_read) as session:
        return search.search(session, query, subject_key=state.secrets.subject_key,
                                   reveal=search.may_reveal(client.scopes))


@router.get("/clients/me", response_model=ClientOut, responses=COMMON_ERRORS)
def client_me(client: Annotated[Client, Depends(get_client)]) -> ClientOut:
    """The calling API key: its relying party, scopes and the factors its policy allows."""
    return ClientOut(rp_id=client.rp_id, rp_name=client.rp_name, key_id=client.key_id,
                     scopes=sorted(client.scopes), allowed_factors=list(client.allowed_factors),
                     key_expires_at=client.key_expires_at)
