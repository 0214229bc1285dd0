"""The object cache keeps recent results within both its entry and weight budgets."""

from __future__ import annotations

from forge.git.cache import ObjectCache


def test_least_recently_used_entries_go_first() -> None:
    cache = ObjectCache(max_entries=2, max_weight=100)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3


def test_weight_budget_evicts_and_refuses_what_cannot_fit() -> None:
    cache = ObjectCache(max_entries=10, max_weight=100)
    cache.put("small", "s", weight=10)
    cache.put("big", "b", weight=80)
    assert cache.weight == 90
    cache.put("more", "m", weight=30)  # 120 > 100: the oldest go first ("small", then "big") until it fits
    assert cache.get("small") is None and cache.get("big") is None and cache.get("more") == "m"
    assert cache.weight == 30
    cache.put("huge", "h", weight=101)  # heavier than the whole budget: not kept, nothing else pushed out
    assert cache.get("huge") is None and cache.get("more") == "m"
    # Replacing a key replaces its weight instead of adding to it.
    cache.put("more", "m2", weight=5)
    assert cache.get("more") == "m2" and cache.weight <= 100


def test_get_or_compute_weighs_and_reuses() -> None:
    cache = ObjectCache(max_entries=10, max_weight=1_000)
    calls: list[int] = []

    def compute() -> list[int]:
        calls.append(1)
        return list(range(300))

    assert len(cache.get_or_compute("k", compute, len)) == 300
    assert len(cache.get_or_compute("k", compute, len)) == 300
    assert calls == [1] and cache.weight == 300 and len(cache) == 1
