"""Operations: liveness, readiness, Prometheus metrics, JWKS-free and unauthenticated."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from authd.http.deps import StateDep
from authd.http.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(state: StateDep) -> Response:
    checks = {"database": _database(state), "keys": _keys(state)}
    for name, probe in state.readiness.items():
        checks[name] = probe()
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def _database(state: StateDep) -> str:
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return "ok"
    except Exception:  # any failure means not ready; the reason goes nowhere public
        return "failing"


def _keys(state: StateDep) -> str:
    return "ok" if state.keyring.active is not None else "failing"


@router.get("/metrics", include_in_schema=False)
def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type=state.metrics.content_type)
