"""The ceiling for benchmarks/otp_auth.py: a bare FastAPI endpoint on the same server
(uvicorn, same loop and HTTP implementation, same worker count), doing no work."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/bare")
def bare(body: dict) -> dict:
    return {"ok": True, "echo": len(body)}
