"""Attachments and issue templates on the live server: upload (script and no-script paths), the size limit, how
files are served (images inline, everything else as a download, never active content), read permission; templates
from .forge/ISSUE_TEMPLATE pushed with real git, the chooser and pre-filled forms."""

from __future__ import annotations

import re

from forge.issues import labels as label_service
from forge.repos.services import set_collaborator
from tests.factories import PASSWORD

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_upload_serves_images_inline_and_everything_else_as_download(factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    image = web.post(f"{base}/issues/attachments", files={"file": ("shot.png", PNG, "image/png")})
    assert image.status_code == 200
    body = image.json()
    assert body["markdown"] == f"![shot.png]({body['url']})" and body["url"].startswith(f"{base}/attachments/")
    got = web.get(body["url"])
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff" and "sandbox" in got.headers["content-security-policy"]

    # HTML and SVG claiming to be images are plain downloads.
    for name, data, claimed in (("x.html", b"<script>alert(1)</script>", "text/html"),
                                ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", "image/svg+xml")):
        resp = web.post(f"{base}/issues/attachments", files={"file": (name, data, claimed)})
        assert resp.status_code == 200 and resp.json()["markdown"].startswith(f"[{name}](")
        served = web.get(resp.json()["url"])
        assert served.headers["content-type"] == "application/octet-stream"
        assert served.headers["content-disposition"].startswith("attachment;") and name in served.headers[
            "content-disposition"]

    # Used in an issue, the image shows in the rendered text.
    web.submit(f"{base}/issues/new", f"{base}/issues/new", {"title": "With picture", "body": body["markdown"]})
    assert f'<img src="{body["url"]}" alt="shot.png"' in web.get(f"{base}/issues/1").text

    # Without a file, or without signing in, nothing is stored.
    assert web.post(f"{base}/issues/attachments", {}).status_code == 422
    anonymous = web.__class__(str(web.client.base_url))
    try:
        assert anonymous.post(f"{base}/issues/attachments", files={"file": ("a", b"a")}).status_code in (401, 403)
        assert anonymous.get(body["url"]).status_code == 200  # a public repository's files are public
    finally:
        anonymous.close()
    assert web.get(f"{base}/attachments/00000000-0000-0000-0000-000000000000").status_code == 404


def test_too_large_is_refused_with_413(factory, web, server):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    web.login(alice.name, PASSWORD)
    big = b"x" * (server.settings.attachment_max_mb * 1024 * 1024 + 1)
    resp = web.post(f"/{ref.full_name}/issues/attachments", files={"file": ("big.bin", big)})
    assert resp.status_code == 413 and "attachments may be at most 10 MiB" in resp.json()["message"]
    # Without JavaScript the form comes back with the message and the text being written.
    resp = web.post(f"/{ref.full_name}/issues/new", {"title": "Keep me", "body": "my long text", "attach": "1"},
                    files={"file": ("big.bin", big)})
    assert resp.status_code == 413 and "attachments may be at most 10 MiB" in resp.text
    assert 'value="Keep me"' in resp.text and "my long text" in resp.text
    # A body far beyond any attachment is refused before it is read.
    huge = web.post(f"/{ref.full_name}/issues/attachments", files={"file": ("huge.bin", big * 3)})
    assert huge.status_code == 413


def test_attach_without_javascript_keeps_the_typed_text(factory, web):  # type: ignore[no-untyped-def]
    alice = factory.user()
    ref = factory.repo(alice)
    base = f"/{ref.full_name}"
    web.login(alice.name, PASSWORD)
    page = web.get(f"{base}/issues/new").text
    assert 'enctype="multipart/form-data"' in page and 'name="attach"' in page and "/static/issues.js" in page
    resp = web.post(f"{base}/issues/new", {"title": "Draft title", "body": "Look at this:", "attach": "1"},
                    files={"file": ("log.txt", b"boom", "text/plain")})
    assert resp.status_code == 200
    assert 'value="Draft title"' in resp.text
    match = re.search(r"Look at this:\n\[log.txt\]\((/[^)]+)\)", resp.text)
    assert match and web.get(match.group(1)).content == b"boom"
    # The same on an issue's comment form.
    web.post(f"{base}/issues/new", {"title": "Real", "body": "x"})
    resp = web.post(f"{base}/issues/1/comments", {"body": "see", "attach": "1"},
                    files={"file": ("shot.png", PNG, "image/png")})
    assert resp.status_code == 200 and re.search(r"see\n!\[shot.png\]\(/", resp.text)


def test_private_attachments_need_read_access(factory, web):  # type: ignore[no-untyped-def]
    alice, reader, stranger = factory.user(), factory.user(), factory.user()
    ref = factory.repo(alice, private=True)
    with factory.session() as s:
        set_collaborator(s, alice, ref, reader, "read")
    web.login(alice.name, PASSWORD)
    url = web.post(f"/{ref.full_name}/issues/attachments", files={"file": ("a.png", PNG)}).json()["url"]
    with web.as_user(reader.name, PASSWORD) as r:
        assert r.get(url).status_code == 200
    with web.as_user(stranger.name, PASSWORD) as s:
        assert s.get(url).status_code == 404
    # Another repository's path does not reach the file either.
    other = factory.repo(alice)
    assert web.get(url.replace(ref.repo.name, other.repo.name)).status_code == 404


def test_issue_templates_offer_a_chooser_and_prefill(git, factory, web):  # type: ignore[no-untyped-def]
    alice, bob = factory.user(), factory.user()
    ref = factory.repo(alice)
    with factory.session() as s:
        label_service.create_label(s, alice, ref=ref, name="bug", color="#d73a4a")
    work = git.new_work("w")
    work.commit({
        ".forge/ISSUE_TEMPLATE/bug.md": "---\nname: Bug report\nabout: Something is broken\ntitle: \"[bug] \"\n"
                                        "labels: bug, unknown\n---\n## Steps\n1.\n",
        ".forge/ISSUE_TEMPLATE/idea.md": "An idea without front matter\n",
        ".github/ISSUE_TEMPLATE/ignored.md": "---\nname: Ignored\n---\nx\n",
    }, "templates")
    git.push_to(work.path, ref, "main")
    base = f"/{ref.full_name}/issues/new"
    with web.as_user(bob.name, PASSWORD) as b:
        chooser = b.get(base).text
        assert "Bug report" in chooser and "Something is broken" in chooser and "idea" in chooser
        assert "Ignored" not in chooser and f'href="{base}?template=bug.md"' in chooser
        assert f'href="{base}?blank=1"' in chooser
        form = b.get(f"{base}?template=bug.md").text
        assert 'value="[bug]"' in form and "## Steps" in form and 'name="template" value="bug.md"' in form
        assert 'id="issue-body"' in b.get(f"{base}?blank=1").text
        # bob cannot triage, yet the template's labels apply (its unknown label is skipped).
        resp = b.submit(f"{base}?template=bug.md", base, {"title": "[bug] it broke", "body": "steps",
                                                          "template": "bug.md"})
        assert resp.status_code == 303
        page = b.get(resp.headers["location"]).text
        sidebar = page.split('id="sidebar-labels"')[1].split("</section>")[0]
        assert 'class="label"' in sidebar and ">bug<" in sidebar and "unknown" not in sidebar
