"""Work in batches: bulk writes and streamed exports take a bounded slice at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice


def chunked(items: Iterable, size: int = 1000) -> Iterator[list]:
    """Lists of at most `size` items, in order; reads `items` lazily (an iterator stays one)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
