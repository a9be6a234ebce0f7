"""Upload part headers that are not UTF-8, made readable before Werkzeug parses the form.

A browser sends a file's name in UTF-8, but `curl -F file=@NAME` sends the name's bytes as
the file system holds them, and a Latin-1 name (b"caf\\xe9.jpg") is not UTF-8. Werkzeug
decodes part headers strictly and, on the first such byte, drops the whole form without a
word: the page then said "choose at least one image" and the API 'send the image as the
multipart field "file"' for an image that was sent (issue 25's random-name test found
it). The name is only ever shown, so its stray bytes become U+FFFD and the image is judged.
"""

from __future__ import annotations

HEADER_END = b"\r\n\r\n"
MAX_HEADER_BYTES = 16 * 1024
"""A part's headers longer than this are left as they are (Werkzeug refuses them itself)."""


def readable_part_headers(body: bytes, boundary: bytes) -> bytes:
    """`body` with every part's header block decoded as UTF-8, stray bytes replaced by
    U+FFFD; the same object, not a copy, when every block already is UTF-8 (the usual
    case). The caller holds the whole body while Werkzeug copies its parts out, so a form
    costs up to twice its size while parsed (BUILD_NOTES.md, "Second round")."""
    delimiter = b"--" + boundary
    pieces, copied_to = [], 0
    at = body.find(delimiter)
    while at != -1:
        head_start = at + len(delimiter)
        head_end = body.find(HEADER_END, head_start, head_start + MAX_HEADER_BYTES)
        if head_end == -1:
            at = body.find(delimiter, head_start)
            continue
        head = body[head_start:head_end]
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            pieces += [body[copied_to:head_start], head.decode("utf-8", "replace").encode()]
            copied_to = head_end
        at = body.find(delimiter, head_end)
    if not pieces:
        return body
    return b"".join(pieces + [body[copied_to:]])
