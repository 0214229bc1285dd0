"""Every user-facing string ships in Simplified Chinese, and the locale is chosen as documented."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import i18n as catalogs  # noqa: E402  (scripts/i18n.py: the same extraction the maintainers run)

from web.i18n import translations  # noqa: E402

_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def test_every_string_has_a_zh_cn_translation() -> None:
    missing = catalogs.missing("zh_CN")
    assert not missing, f"{len(missing)} strings lack a zh_CN translation (run scripts/i18n.py): {missing[:20]}"


def test_translations_keep_their_placeholders() -> None:
    catalog = catalogs.load("zh_CN")
    bad = []
    for message in catalog:
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(_PLACEHOLDER.findall(ids[-1])) | set(_PLACEHOLDER.findall(ids[0]))
        for s in strings:
            if set(_PLACEHOLDER.findall(s)) - wanted:
                bad.append(ids[0])
    assert not bad, bad


def test_catalog_compiles() -> None:
    assert translations("zh_CN").gettext("Sign in") != "Sign in"


def test_locale_negotiation(server, web, factory) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import PASSWORD

    zh_sign_in = translations("zh_CN").gettext("Sign in")
    # Accept-Language picks Chinese for an anonymous visitor...
    page = httpx.get(f"{server.url}/user/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert 'lang="zh-CN"' in page.text and zh_sign_in in page.text
    # ...English when asked, and the configured default (en in tests) when nothing matches.
    page = httpx.get(f"{server.url}/user/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert 'lang="en"' in page.text
    page = httpx.get(f"{server.url}/user/login", headers={"Accept-Language": "fr"})
    assert 'lang="en"' in page.text
    # A signed-in user's setting beats the browser.
    user = factory.user()
    web.login(user.name, PASSWORD)
    resp = web.post("/language", {"locale": "zh_CN", "next": "/explore/repos"})
    assert resp.status_code == 303 and resp.headers["location"] == "/explore/repos"
    page = web.get("/explore/repos", headers={"Accept-Language": "en"})
    assert 'lang="zh-CN"' in page.text
