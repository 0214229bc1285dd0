"""The pieces of webhook delivery that need no server: the SSRF allow list, signatures, event and branch matching."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from forge.webhooks import queue, ssrf
from forge.webhooks.signing import signature, signature_headers, verify


def same(found: str | None, address: str) -> bool:
    return found is not None and ipaddress.ip_address(found) == ipaddress.ip_address(address)


def resolver(table: dict[str, list[str]]) -> ssrf.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [])

    return resolve


@pytest.mark.parametrize("address", [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "127.0.0.1", "0.0.0.0", "224.0.0.1", "100.64.0.1",
    "240.0.0.1", "192.0.2.10", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
    "2002:a00:1::1", "::10.0.0.1",
])
def test_external_only_refuses_internal_addresses(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ssrf.RefusedAddress) as caught:
        ssrf.check_url(f"http://{host}/hook", "external")
    assert caught.value.status == 422
    assert "private or loopback address" in str(caught.value)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_external_allows_public_addresses(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    assert same(ssrf.check_url(f"https://{host}:8443/x", "external"), address)


@pytest.mark.parametrize(("allowed", "address", "ok"), [
    ("loopback", "127.0.0.1", True),
    ("loopback", "127.8.9.10", True),
    ("loopback", "::1", True),
    ("loopback", "::ffff:127.0.0.1", True),
    ("loopback", "10.0.0.1", False),
    ("loopback", "8.8.8.8", False),
    ("private", "10.0.0.1", True),
    ("private", "172.31.255.255", True),
    ("private", "192.168.0.1", True),
    ("private", "fd12:3456::1", True),
    ("private", "100.64.1.1", True),
    ("private", "169.254.169.254", False),
    ("private", "127.0.0.1", False),
    ("10.1.0.0/16", "10.1.2.3", True),
    ("10.1.0.0/16", "10.2.0.1", False),
    ("10.1.0.0/16", "::ffff:10.1.2.3", True),
    ("169.254.169.254/32", "169.254.169.254", True),
    ("fd00::/8", "fd00::5", True),
    ("fd00::/8", "fe80::5", False),
    ("*", "169.254.169.254", True),
    ("*", "::", True),
    (" external , loopback ", "::1", True),
    ("", "8.8.8.8", False),
])
def test_allow_lists(allowed: str, address: str, ok: bool) -> None:
    host = f"[{address}]" if ":" in address else address
    if ok:
        found = ssrf.check_url(f"http://{host}/", allowed)
        assert found is None if allowed == "*" else same(found, address)
    else:
        with pytest.raises(ssrf.RefusedAddress):
            ssrf.check_url(f"http://{host}/", allowed)


def test_host_names_are_resolved_and_every_address_must_pass() -> None:
    table = {"hooks.example": ["93.184.216.34"], "sneaky.example": ["93.184.216.34", "10.0.0.7"],
             "metadata.example": ["169.254.169.254"]}
    assert ssrf.check_url("https://hooks.example/x", "external", resolve=resolver(table)) == "93.184.216.34"
    with pytest.raises(ssrf.RefusedAddress):
        ssrf.check_url("https://sneaky.example/x", "external", resolve=resolver(table))
    with pytest.raises(ssrf.RefusedAddress):
        ssrf.check_url("http://metadata.example/latest", "external,private,loopback", resolve=resolver(table))


def test_allowed_host_names_and_globs_skip_the_address_check() -> None:
    table = {"ci.internal": ["10.0.0.5"], "a.corp.example": ["10.9.9.9"], "corp.example": ["10.9.9.9"]}
    allowed = "external,ci.internal,*.corp.example"
    assert ssrf.check_url("http://CI.internal./hook", allowed, resolve=resolver(table)) is None
    assert ssrf.check_url("http://a.corp.example/hook", allowed, resolve=resolver(table)) is None
    with pytest.raises(ssrf.RefusedAddress):
        ssrf.check_url("http://corp.example/hook", allowed, resolve=resolver(table))


def test_unresolved_names_fail_when_sending_but_not_when_saving() -> None:
    with pytest.raises(ssrf.UnresolvedHost):
        ssrf.check_url("http://nowhere.invalid/", "external", resolve=resolver({}))
    assert ssrf.check_url("http://nowhere.invalid/", "external", resolve=resolver({}), require_resolved=False) is None


def test_signature_matches_githubs_documented_example() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature(secret, body) == expected
    headers = signature_headers(secret, body)
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
    assert headers["X-Forge-Signature-256"] == f"sha256={expected}"
    assert headers["X-Gitea-Signature"] == headers["X-Gogs-Signature"] == expected
    assert verify(secret, body, f"sha256={expected}") and verify(secret, body, expected)
    assert not verify(secret, body + b" ", expected)
    assert signature_headers("", body) == {}
    assert expected == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("branch_filter", "branch", "ok"), [
    ("", "anything", True),
    ("*", "feature/x", True),
    ("main", "main", True),
    ("main", "main2", False),
    ("release/*", "release/1.0", True),
    ("release/*", "main", False),
    ("{main,develop}", "develop", True),
    ("{main,release/*}", "release/2", True),
    ("{main,release/*}", "feature", False),
    ("v{1,2}.{0,1}", "v2.1", True),
])
def test_branch_filter(branch_filter: str, branch: str, ok: bool) -> None:
    assert queue.branch_matches(branch_filter, branch) is ok


def test_subscriptions_map_to_event_names() -> None:
    assert queue.subscribed_events(["tag"]) == {"create", "delete"}
    everything = queue.subscribed_events([])
    assert {"push", "issues", "pull_request", "repository"} <= everything
    assert "ping" not in everything
