"""Waitress configured so an upload is refused while it arrives and never touches the disk.

Waitress's defaults accept a 1 GiB body and buffer anything over 512 KB in a temporary
file, so a slow client declaring a huge upload could fill /tmp long before Flask's own
limit answered 413. Here the body cap is the upload cap (plus room for multipart
headers), bodies below it stay in memory, connections are capped so that all the bodies
in flight fit the budget, and `Expect: 100-continue` is never answered with "continue"
for a request already refused.
"""

from __future__ import annotations

import waitress
from waitress.channel import HTTPChannel

MULTIPART_ALLOWANCE = 64 * 1024
"""Bytes beyond the image for multipart boundaries, part headers and form fields."""

DEFAULT_MAX_CONNECTIONS = 32
"""Connections at once; each may buffer one body of up to the cap in memory."""


class RefusingChannel(HTTPChannel):
    """A channel that says 413 at once, not "100 Continue", to a body declared too big.

    waitress has no public option for this: the channel class and its `send_continue` are
    internals, checked by tests/test_framework_hooks.py, with waitress capped in setup.cfg."""

    def send_continue(self):
        if self.request is not None and self.request.error is not None:
            self.request.expect_continue = False
            return
        super().send_continue()


def body_limit(max_upload_bytes: int) -> int:
    return max_upload_bytes + MULTIPART_ALLOWANCE


def create_server(app, host: str, port: int, threads: int, max_upload_bytes: int,
                  max_connections: int = DEFAULT_MAX_CONNECTIONS):
    """A waitress server (not yet running) enforcing the body cap while bytes arrive."""
    limit = body_limit(max_upload_bytes)
    server = waitress.create_server(
        app, host=host, port=port, threads=threads, ident="dfd-serve",
        max_request_body_size=limit,
        # Never spool a body to a temporary file: waitress checks the cap after appending
        # what it received, so a body may pass it by one read before being cut off.
        inbuf_overflow=2 * limit,
        connection_limit=max_connections)
    server.channel_class = RefusingChannel
    return server
