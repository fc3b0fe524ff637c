# Generated from _async/resources/search.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.search``: ``/search``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import FileInput, multipart
from framedex.client.types import SearchResults

from .._pagination import SearchPager
from ._base import _Resource


def _search_form(
    *,
    index_id: str,
    search_options: Sequence[str],
    query_text: str | None,
    query_media_type: str | None,
    query_media_url: str | None,
    query_media_urls: Sequence[str] | None,
    transcription_options: Sequence[str] | None,
    group_by: str | None,
    operator: str | None,
    page_limit: int | None,
    filter: Mapping[str, Any] | str | None,
    include_user_metadata: bool | None,
    has_files: bool,
) -> dict[str, Any]:
    urls = ([query_media_url] if query_media_url else []) + list(query_media_urls or [])
    if query_media_type is None and (urls or has_files):
        query_media_type = "image"
    if isinstance(search_options, str):
        search_options = [search_options]
    if isinstance(transcription_options, str):
        transcription_options = [transcription_options]
    return {
        "query_media_type": query_media_type,
        "query_media_url": urls or None,
        "query_text": query_text,
        "index_id": index_id,
        "search_options": list(search_options),
        "transcription_options": None if transcription_options is None else list(transcription_options),
        "group_by": group_by,
        "operator": operator,
        "page_limit": page_limit,
        "filter": filter,
        "include_user_metadata": include_user_metadata,
    }


class Search(_Resource):
    """``/search``."""

    def create(
        self,
        *,
        index_id: str,
        search_options: Sequence[str],
        query_text: str | None = None,
        query_media_type: str | None = None,
        query_media_url: str | None = None,
        query_media_file: FileInput | None = None,
        query_media_urls: Sequence[str] | None = None,
        query_media_files: Sequence[FileInput] | None = None,
        transcription_options: Sequence[str] | None = None,
        group_by: str | None = None,
        operator: str | None = None,
        page_limit: int | None = None,
        filter: Mapping[str, Any] | str | None = None,
        include_user_metadata: bool | None = None,
    ) -> SearchResults:
        """One page of results (``POST /search``); see :meth:`query` to iterate over every hit."""
        files = ([query_media_file] if query_media_file is not None else []) + list(query_media_files or [])
        form = _search_form(
            index_id=index_id,
            search_options=search_options,
            query_text=query_text,
            query_media_type=query_media_type,
            query_media_url=query_media_url,
            query_media_urls=query_media_urls,
            transcription_options=transcription_options,
            group_by=group_by,
            operator=operator,
            page_limit=page_limit,
            filter=filter,
            include_user_metadata=include_user_metadata,
            has_files=bool(files),
        )
        body = multipart(form, [("query_media_file", f) for f in files])
        return self._http.model("POST", "search", SearchResults, body=body)

    def retrieve(self, page_token: str, *, include_user_metadata: bool | None = None) -> SearchResults:
        """The page of results for ``page_token`` (``GET /search/{page_token}``)."""
        return self._http.model(
            "GET",
            path("search/{}", page_token),
            SearchResults,
            params={"include_user_metadata": include_user_metadata},
        )

    def query(
        self,
        *,
        index_id: str,
        search_options: Sequence[str] | None = None,
        query_text: str | None = None,
        query_media_type: str | None = None,
        query_media_url: str | None = None,
        query_media_file: FileInput | None = None,
        query_media_urls: Sequence[str] | None = None,
        query_media_files: Sequence[FileInput] | None = None,
        transcription_options: Sequence[str] | None = None,
        group_by: str | None = None,
        operator: str | None = None,
        page_limit: int | None = None,
        filter: Mapping[str, Any] | str | None = None,
        include_user_metadata: bool | None = None,
        options: Sequence[str] | None = None,
    ) -> SearchPager:
        """Search and iterate over every hit, following ``next_page_token`` (``GET /search/{token}``).

        ``options`` is the older clients' name of ``search_options``."""
        if search_options is None and options is None:
            raise TypeError("search.query() needs search_options")
        if search_options is not None and options is not None:
            raise TypeError("search.query() takes search_options or its older name options, not both")
        search_options = search_options if search_options is not None else options
        assert search_options is not None  # for the type checker: one of the two was given
        first = self.create(
            index_id=index_id,
            search_options=search_options,
            query_text=query_text,
            query_media_type=query_media_type,
            query_media_url=query_media_url,
            query_media_file=query_media_file,
            query_media_urls=query_media_urls,
            query_media_files=query_media_files,
            transcription_options=transcription_options,
            group_by=group_by,
            operator=operator,
            page_limit=page_limit,
            filter=filter,
            include_user_metadata=include_user_metadata,
        )

        def fetch(token: str) -> SearchResults:
            return self.retrieve(token, include_user_metadata=include_user_metadata)

        return SearchPager(fetch, first)
