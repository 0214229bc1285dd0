"""The JSON shapes of forge objects, shared by the REST API (web.api) and webhook payloads (forge.webhooks).

Fields follow Gitea and GitHub where they agree (``login``, ``full_name``, ``html_url``, ``clone_url``...), so
clients and webhook receivers written for those work here. Each module holds pydantic models and the functions that
build them from domain objects; ``base`` is the forge's public URL (``settings.public_url()``).
"""
