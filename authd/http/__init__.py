"""The HTTP edge, the only package that imports FastAPI or Starlette: `app` (the factory and its
lifespan), `asgi` (uvicorn's entry point), `state` (the typed application state the lifespan
opens), `middleware` (request id, access log, metrics, body limit), `handlers` (one JSON error
shape), `deps` (clients, scopes, clock, state as dependencies), `schemas` (pydantic bodies),
`photos` (reading and encoding a photo from a request), `metrics`, `console` (the browser
app) and `routes/` (one module per client; routes never import each other).
"""
