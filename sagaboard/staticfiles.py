"""Static files: WhiteNoise, made for the ASGI server Sagaboard runs on, and /favicon.ico.

WhiteNoise answers with a file response that Django can only read synchronously. Under
ASGI Django then falls back to reading the whole file in a thread and warns, once per
file served ("StreamingHttpResponse must consume synchronous iterators"). Here the file
is read in blocks in a thread and streamed asynchronously, as the ASGI handler expects;
the WSGI path (the tests' client) is WhiteNoise's unchanged.

Browsers ask for /favicon.ico on every page that names no icon (the admin's, a JSON
answer): it gets the icon the pages name, rather than a 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO, Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware

#: The icon templates/base.html names, under STATIC_URL.
ICON = "img/logo.svg"
#: Read per thread hop: the front end's bundles take a few.
BLOCK_SIZE = 256 * 1024


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]
    """WhiteNoise's middleware, streaming asynchronously under ASGI, with /favicon.ico."""

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info == "/favicon.ico":
            url = self.static_prefix + ICON
            icon = self.find_file(url) if self.autorefresh else self.files.get(url)
            if icon is not None:
                return self.serve(icon, request)
        response: HttpResponseBase = super().__call__(request)
        return response

    @staticmethod
    def serve(static_file: Any, request: HttpRequest) -> HttpResponseBase:
        response = WhiteNoiseMiddleware.serve(static_file, request)
        if isinstance(request, ASGIRequest):
            # None for a HEAD or a 304: nothing to send, but still asynchronously.
            response.streaming_content = _read(response.file_to_stream)
        return response  # type: ignore[no-any-return]


async def _read(file: IO[bytes] | None) -> AsyncIterator[bytes]:
    """The file's bytes, each block read in a thread (the response closes the file)."""
    if file is None:
        return
    while block := await asyncio.to_thread(file.read, BLOCK_SIZE):
        yield block
