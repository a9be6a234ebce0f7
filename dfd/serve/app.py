"""The upload page and JSON API over one shared `dfd.lite.Detector`.

Safe by default, because the seed was not: uploads stay in memory (never a file name from
the client, never a temporary file), the size is capped before reading, the type is
judged by decoding, and every failure is a short JSON or page message with a status code,
never a traceback. The Detector holds the one interpreter behind a lock, so any number
of request threads share it; decoding happens before that lock, so a semaphore bounds how
many images are decoded at once and the worst case fits a stated memory budget.

`POST /api/classify?explain=1` adds where the image looks fake (`dfd.lite.explain`): the
heat map as a transparent PNG data URL and the crop of the photo it lies on, which is what
the page lays over its thumbnail. A data URL, not a second endpoint: nothing is stored
between requests, so the map travels with the answer it explains.
"""

from __future__ import annotations

import base64
import io
import logging
import threading

import flask
from werkzeug.exceptions import (BadRequest, HTTPException, RequestEntityTooLarge,
                                 UnprocessableEntity, UnsupportedMediaType)
from werkzeug.formparser import FormDataParser

from dfd.lite import imageio
from dfd.lite.detector import Detector
from dfd.lite.explain import Explainer, attach
from dfd.serve.multipart import readable_part_headers

DEFAULT_MAX_UPLOAD_BYTES = imageio.MAX_FILE_BYTES
DEFAULT_MAX_DECODES = 2
"""Images decoded at once. The gate refuses any image whose decode it estimates above
256 MiB (dfd.imaging.gate.MAX_DECODED_BYTES; the worst allowed images measured 260-273 MB
over idle), so two at a time keep the server's worst case within its 1 GB budget
(docs/security.md)."""

MAX_FILES_PER_FORM = 16
"""Images in one page form; the page's own script sends one image per request."""

STATUS_OF = (
    (imageio.EmptyImageError, BadRequest),
    (imageio.NotAnImageError, UnsupportedMediaType),
    (imageio.TooLargeError, RequestEntityTooLarge),
    (imageio.BadDimensionsError, UnprocessableEntity),
    (imageio.CorruptImageError, UnprocessableEntity),
)
"""Werkzeug's HTTP exception for each way an upload can fail to be an image."""

log = logging.getLogger("dfd.serve")


def memory_stream(total_content_length, content_type, filename=None, content_length=None):
    """Where a form's file part is written: memory, whatever its size."""
    return io.BytesIO()


class InMemoryFormParser(FormDataParser):
    """Werkzeug's form parser spools file parts over 500 KB to a temporary file; this one
    keeps them in memory (the size cap bounds how much), so no upload touches the disk.
    Werkzeug documents both hooks: the parser's `stream_factory` and the request's
    `form_data_parser_class`."""

    def __init__(self, stream_factory=None, *args, **kwargs):
        super().__init__(memory_stream, *args, **kwargs)

    def parse(self, stream, mimetype, content_length, options=None):
        """A multipart form whose part headers are not UTF-8 is parsed, not dropped
        (`dfd.serve.multipart`). The stream is already limited to the upload cap, and the
        form is held in memory either way."""
        boundary = (options or {}).get("boundary", "")
        if mimetype == "multipart/form-data" and boundary.isascii():
            stream = io.BytesIO(readable_part_headers(stream.read(), boundary.encode()))
        return super().parse(stream, mimetype, content_length, options)


class InMemoryRequest(flask.Request):
    form_data_parser_class = InMemoryFormParser


def status_for(error: imageio.ImageError) -> int:
    for kind, http_error in STATUS_OF:
        if isinstance(error, kind):
            return http_error.code
    return UnprocessableEntity.code


EXPLAIN_VALUES = {"1": True, "true": True, "yes": True, "on": True,
                  "0": False, "false": False, "no": False, "off": False, "": False}
"""What `?explain=` may say."""


def explain_requested() -> bool:
    """The `explain` query parameter; anything but a yes or a no is the client's mistake."""
    value = flask.request.args.get("explain", "")
    if value.strip().lower() not in EXPLAIN_VALUES:
        raise BadRequest(f"explain must be 1 or 0, not {value[:40]!r}")
    return EXPLAIN_VALUES[value.strip().lower()]


def png_data_url(png: bytes) -> str:
    """A PNG an <img> shows as it comes, with no second request and nothing stored."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def wants_json() -> bool:
    return flask.request.path.startswith("/api/") or flask.request.path == "/healthz"


def create_app(detector: Detector, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_decodes: int = DEFAULT_MAX_DECODES):
    app = flask.Flask(__name__)
    app.request_class = InMemoryRequest
    # Werkzeug counts every part against MAX_FORM_PARTS; a few beyond the files allowed
    # leave room for the form's other fields, so the page can explain an over-full form.
    app.config.update(MAX_CONTENT_LENGTH=max_upload_bytes,
                      MAX_FORM_PARTS=MAX_FILES_PER_FORM + 8)
    app.json.sort_keys = False  # answers keep the order they are built in
    model = detector.description
    limit_mb = max_upload_bytes / (1024 * 1024)
    decoding = threading.BoundedSemaphore(max_decodes)

    def classify(data: bytes, explain: bool = False) -> dict:
        with decoding:
            if not explain:
                return {**detector.classify_bytes(data).as_dict(), "model": model}
            verdict, heats = Explainer(detector).explain_bytes(data)
        return attach({**verdict.as_dict(), "model": model}, verdict, heats,
                      lambda heat, face: heat.as_dict(png_data_url(heat.layer_png())))

    def error(status: int, message: str):
        if wants_json():
            return flask.jsonify(error=message, status=status), status
        return flask.render_template("index.html", model=model, error=message,
                                     limit_mb=limit_mb, results=[]), status

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if isinstance(e, RequestEntityTooLarge):
            length = flask.request.content_length
            if length is not None and length > max_upload_bytes:
                message = f"upload is larger than the {limit_mb:g} MB limit"
            else:
                message = (f"too many parts in one form: send at most {MAX_FILES_PER_FORM} "
                           f"images per request")
            response = flask.make_response(error(413, message))
        else:
            response = flask.make_response(error(e.code or 500, e.description or e.name))
        for name, value in e.get_headers():  # Allow on 405, Retry-After, ...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unexpected error on %s", flask.request.path)
        return error(500, "internal error: the image could not be classified")

    @app.get("/healthz")
    def healthz():
        if model.get("gate_note"):  # served on --allow_failed_gate: say so to every probe
            return flask.jsonify(status="ok", model=model,
                                 warning=f"--allow_failed_gate: {model['gate_note']}")
        return flask.jsonify(status="ok", model=model)

    @app.post("/api/classify")
    def api_classify():
        explain = explain_requested()
        if flask.request.mimetype == "multipart/form-data":
            upload = flask.request.files.get("file")
            if upload is None:
                return error(400, 'send the image as the multipart field "file"')
            data = upload.read()
        else:  # the raw body is the image, whatever Content-Type the client claimed
            data = flask.request.get_data(cache=False, parse_form_data=False)
        try:
            return flask.jsonify(classify(data, explain))
        except imageio.ImageError as e:
            return error(status_for(e), str(e))

    @app.route("/", methods=["GET", "POST"])
    def index():
        """The page; a form POST (no JavaScript) is answered with the results in the page."""
        results = []
        if flask.request.method == "POST":
            uploads = flask.request.files.getlist("file")
            if not uploads:
                return error(400, "choose at least one image")
            if len(uploads) > MAX_FILES_PER_FORM:
                return error(413, f"{len(uploads)} images in one form: send at most "
                                  f"{MAX_FILES_PER_FORM} per request")
            for number, upload in enumerate(uploads, 1):
                # The client's name is only ever shown (escaped by the template), never
                # used as a path: nothing is saved.
                label = upload.filename or f"image {number}"
                try:
                    results.append({"label": label, **classify(upload.read())})
                except imageio.ImageError as e:
                    results.append({"label": label, "error": str(e)})
        return flask.render_template("index.html", model=model, error=None,
                                     limit_mb=limit_mb, results=results)

    return app
