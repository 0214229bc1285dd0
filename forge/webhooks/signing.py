"""Signing delivery bodies so receivers can tell the forge's requests from forged ones.

The signature is HMAC-SHA256, keyed with the hook's secret, over the exact bytes of the request body (the JSON
document, or the form-encoded ``payload=...`` body): receivers must verify the raw body before parsing it.
GitHub's header carries it as ``sha256=<hex>``, Gitea's and Gogs' as the bare hex digest.
"""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes) -> dict[str, str]:
    """The signature headers GitHub, Gitea, Gogs and Forge receivers look for; none without a secret."""
    if not secret:
        return {}
    digest = signature(secret, body)
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-Forge-Signature-256": f"sha256={digest}",
        "X-Gitea-Signature": digest,
        "X-Gogs-Signature": digest,
    }


def verify(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` (``sha256=<hex>`` or bare hex) is the signature of ``body`` (constant time)."""
    digest = header.removeprefix("sha256=")
    return hmac.compare_digest(signature(secret, body), digest)
