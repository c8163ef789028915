"""ASGI entry point for uvicorn workers: settings from the environment."""

import os

from fastapi import FastAPI

from authd.http.app import create_app


def app() -> FastAPI:
    os.umask(0o077)  # files this worker creates in the data dir are 0600, directories 0700
    return create_app()
