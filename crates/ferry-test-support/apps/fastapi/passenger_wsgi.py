# Passenger's startup file naming a FastAPI app: Ferry's Python loader sees that `app` is an ASGI
# app and serves it with its ASGI loader.
from main import app  # noqa: F401
