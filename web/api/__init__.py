"""The REST API under ``/api/v1``: a FastAPI application mounted inside the forge's Starlette app.

FastAPI validates requests and builds responses with the same pydantic schemas it publishes in the OpenAPI
document (``/api/v1/openapi.json``), so the document cannot drift from what the handlers accept and return.
Handlers stay thin: they check the caller's scope, call the domain services in ``forge``, ``ci`` and ``community``
inside :func:`web.api.deps.db`, and turn the result into a schema from ``web.api.schemas``.
"""
