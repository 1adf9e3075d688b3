"""The web surface: one FastAPI app with the HTTP API and the Gradio chat mounted in it."""

from assistant.serve.app import create_app

__all__ = ["create_app"]
