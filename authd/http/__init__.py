"""The HTTP edge: the app factory and its lifespan, pure-ASGI middleware, the error handlers,
dependencies, pydantic schemas, routes (one module per client) and the console.
"""
