"""Auto-paging iterators: page numbers (``page`` + 1 until ``data`` is empty), search page tokens and
knowledge-store search page tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Generic

from framedex.client._base import M
from framedex.client.types import (
    Model,
    Page,
    PageInfo,
    SearchItem,
    SearchKnowledgeStoreHit,
    SearchKnowledgeStoreResponse,
    SearchPageInfo,
    SearchPool,
    SearchResults,
)

from ._concurrency import Fetch, TokenFetch


def _items(raw: Any, key: str, item_model: type[M], transform: Callable[[M], M] | None) -> list[M]:
    if not isinstance(raw, dict):
        return []
    items = [item_model.model_validate(v) for v in raw.get(key) or []]
    return items if transform is None else [transform(item) for item in items]


class AsyncPager(Generic[M]):
    """Iterate over every item of a page-number list, fetching ``page + 1`` until a page is empty.

    The first page is fetched when the list method is called, so errors surface there; ``items``,
    ``page_info`` and ``first_page`` describe that first page.
    """

    def __init__(
        self,
        fetch: Fetch,
        item_model: type[M],
        *,
        page: int,
        raw: Any,
        items_key: str = "data",
        page_model: type[Model] = Page,
        transform: Callable[[M], M] | None = None,
    ) -> None:
        self._fetch = fetch
        self._transform = transform
        self._item_model = item_model
        self._items_key = items_key
        self._page_model = page_model
        self.page = page
        self.raw = raw
        self.items: list[M] = _items(raw, items_key, item_model, transform)
        self.first_page: Model = page_model.model_validate(raw if isinstance(raw, dict) else {})
        info = raw.get("page_info") if isinstance(raw, dict) else None
        self.page_info: PageInfo | None = PageInfo.model_validate(info) if isinstance(info, dict) else None

    @classmethod
    async def create(
        cls,
        fetch: Fetch,
        item_model: type[M],
        *,
        page: int = 1,
        items_key: str = "data",
        page_model: type[Model] = Page,
        transform: Callable[[M], M] | None = None,
    ) -> AsyncPager[M]:
        raw = await fetch(page)
        return cls(
            fetch,
            item_model,
            page=page,
            raw=raw,
            items_key=items_key,
            page_model=page_model,
            transform=transform,
        )

    async def pages(self) -> AsyncIterator[list[M]]:
        """Yield the items of each page, starting with the first, until a page comes back empty."""
        items = self.items
        page = self.page
        while items:
            yield items
            page += 1
            raw = await self._fetch(page)
            items = _items(raw, self._items_key, self._item_model, self._transform)

    @property
    def has_next(self) -> bool:
        """Whether another page may follow (the last page is only known once an empty one comes back)."""
        return bool(self.items)

    async def next_page(self) -> AsyncPager[M] | None:
        """The following page as a pager of its own (as the official SDK's pagers do), or None past the last."""
        if not self.items:
            return None
        raw = await self._fetch(self.page + 1)
        following = AsyncPager(self._fetch, self._item_model, page=self.page + 1, raw=raw,
                               items_key=self._items_key, page_model=self._page_model, transform=self._transform)
        return following if following.items else None

    async def iter_pages(self) -> AsyncIterator[AsyncPager[M]]:
        """Yield this page and each following one as a pager (``.items``, ``.page_info``), as the official
        SDK's ``iter_pages`` does."""
        current: AsyncPager[M] | None = self if self.items else None
        while current is not None:
            yield current
            current = await current.next_page()

    async def _iterate(self) -> AsyncIterator[M]:
        async for items in self.pages():
            for item in items:
                yield item

    def __aiter__(self) -> AsyncIterator[M]:
        return self._iterate()


class AsyncSearchPager:
    """Iterate over every hit of a search, following ``page_info.next_page_token``
    (``GET /search/{token}``).

    The first page is fetched when ``search.query`` is called; ``first_page``, ``search_pool`` and
    ``page_info`` describe it.
    """

    def __init__(self, fetch_token: TokenFetch, first: SearchResults) -> None:
        self._fetch_token = fetch_token
        self.first_page = first
        self.items: list[SearchItem] = list(first.data or [])
        self.page_info: SearchPageInfo | None = first.page_info
        self.search_pool: SearchPool | None = first.search_pool

    async def pages(self) -> AsyncIterator[SearchResults]:
        page: SearchResults = self.first_page
        seen: set[str] = set()
        while True:
            yield page
            token = page.page_info.next_page_token if page.page_info else None
            if not token or token in seen:
                return
            seen.add(token)
            page = await self._fetch_token(token)

    @property
    def has_next(self) -> bool:
        return bool(self.page_info and self.page_info.next_page_token)

    async def next_page(self) -> AsyncSearchPager | None:
        """The following page of hits as a pager of its own, or None after the last."""
        token = self.page_info.next_page_token if self.page_info else None
        if not token:
            return None
        return AsyncSearchPager(self._fetch_token, await self._fetch_token(token))

    async def iter_pages(self) -> AsyncIterator[AsyncSearchPager]:
        """Yield this page and each following one as a pager (``.items``, ``.page_info``)."""
        current: AsyncSearchPager | None = self
        seen: set[str] = set()
        while current is not None:
            yield current
            token = current.page_info.next_page_token if current.page_info else None
            if not token or token in seen:
                return
            seen.add(token)
            current = await current.next_page()

    async def _iterate(self) -> AsyncIterator[SearchItem]:
        async for page in self.pages():
            for item in page.data or []:
                yield item

    def __aiter__(self) -> AsyncIterator[SearchItem]:
        return self._iterate()


class AsyncKnowledgeStoreSearchPager:
    """One page of a knowledge-store search that can follow ``next_page_token`` to the end.

    Reads like the official SDK's ``SearchKnowledgeStoreResponse`` (``data``, ``next_page_token``,
    ``effective_search_options`` of this page; ``first_page`` is that model), and iterating over it yields
    every hit of this page and the following ones, fetching each next page with its token.
    """

    def __init__(self, fetch_token: TokenFetch, first: SearchKnowledgeStoreResponse) -> None:
        self._fetch_token = fetch_token
        self.first_page = first
        self.data: list[SearchKnowledgeStoreHit] = list(first.data or [])
        self.next_page_token: str | None = first.next_page_token
        self.effective_search_options: dict[str, Any] | None = first.effective_search_options

    @property
    def items(self) -> list[SearchKnowledgeStoreHit]:
        """The hits of this page (as ``data``; the name the other pagers use)."""
        return self.data

    @property
    def has_next(self) -> bool:
        return bool(self.next_page_token)

    async def next_page(self) -> AsyncKnowledgeStoreSearchPager | None:
        """The following page as a pager of its own, or None after the last."""
        if not self.next_page_token:
            return None
        return AsyncKnowledgeStoreSearchPager(self._fetch_token, await self._fetch_token(self.next_page_token))

    async def iter_pages(self) -> AsyncIterator[AsyncKnowledgeStoreSearchPager]:
        """Yield this page and each following one."""
        current: AsyncKnowledgeStoreSearchPager | None = self
        seen: set[str] = set()
        while current is not None:
            yield current
            token = current.next_page_token
            if not token or token in seen:
                return
            seen.add(token)
            current = await current.next_page()

    async def _iterate(self) -> AsyncIterator[SearchKnowledgeStoreHit]:
        async for page in self.iter_pages():
            for hit in page.data:
                yield hit

    def __aiter__(self) -> AsyncIterator[SearchKnowledgeStoreHit]:
        return self._iterate()
