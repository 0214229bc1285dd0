"""Page-numbered lists with GitHub's ``Link`` header (first, prev, next, last) and ``X-Total-Count``.

Handlers declare ``page: PageDep``, query ``page.offset``/``page.limit`` from their service, and call
:func:`link_headers` with the total so clients can walk every page without knowing the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30


@dataclass(frozen=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def limit(self) -> int:
        return self.per_page

    def slice(self, items: list) -> list:  # type: ignore[type-arg]
        """This page of a list already held in memory (for small, bounded lists)."""
        return items[self.offset:self.offset + self.per_page]


def get_page(
    page: Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE, description="Items per page (at most 100).")]
    = DEFAULT_PER_PAGE,
) -> Page:
    return Page(page=page, per_page=per_page)


PageDep = Annotated[Page, Depends(get_page)]


def link_headers(request: Request, response: Response, page: Page, total: int) -> None:
    """Set ``Link`` and ``X-Total-Count`` on ``response`` for a list of ``total`` items."""
    last = max(1, -(-total // page.per_page))
    url = request.url

    def link(number: int, rel: str) -> str:
        return f'<{url.include_query_params(page=number, per_page=page.per_page)}>; rel="{rel}"'

    links = []
    if page.page < last:
        links.append(link(page.page + 1, "next"))
        links.append(link(last, "last"))
    if page.page > 1:
        links.append(link(1, "first"))
        links.append(link(min(page.page - 1, last), "prev"))
    if links:
        response.headers["Link"] = ", ".join(links)
    response.headers["X-Total-Count"] = str(total)


# Documented on list operations.
LIST_HEADERS = {
    "Link": {"description": "RFC 8288 links to the first, prev, next and last pages.", "schema": {"type": "string"}},
    "X-Total-Count": {"description": "How many items the whole list has.", "schema": {"type": "integer"}},
}
# The ``responses`` of a paginated list operation: ``@router.get(..., responses=LIST_RESPONSES)``.
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"headers": LIST_HEADERS}}
