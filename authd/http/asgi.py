"""ASGI entry point for uvicorn workers: settings from the environment."""

from fastapi import FastAPI

from authd.http.app import create_app


def app() -> FastAPI:
    return create_app()
