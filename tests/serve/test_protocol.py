"""dfd-serve's HTTP edge on a real loopback socket, with a stand-in detector behind the
real decoding gate: oversized bodies refused while they arrive, nothing on disk, bounded
decoding, the right status and headers for protocol abuse."""

import http.client
import io
import socket
import tempfile
import threading
import time

import pytest

from conftest import jpeg_bytes
from support import hostile
from dfd.imaging import gate
from dfd.lite.detector import Verdict
from dfd.serve import server as serve_server
from dfd.serve.app import MAX_FILES_PER_FORM, create_app

LIMIT = 1024 * 1024


class GateOnlyDetector:
    """Decodes through the real gate, then answers a fixed verdict; counts concurrency."""

    description = {"file": "stub.tflite", "name": "stub", "precision": "float32",
                   "image_size": 32, "dfd_version": None, "interpreter": "none",
                   "kernels": "none", "threads": 1,
                   "kernel_check": {"reason": "a stand-in detector, no interpreter"}}

    def __init__(self):
        self.lock = threading.Lock()
        self.active = self.peak = 0

    def classify_bytes(self, data):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            gate.decode(data)
            time.sleep(0.05)
            return Verdict(0.25, "real", 0.5, 1.0)
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def spooled(monkeypatch):
    """Every temporary file anyone opens in this process, recorded (and still allowed)."""
    opened = []
    real = tempfile.TemporaryFile

    def recording(*args, **kwargs):
        opened.append(args)
        return real(*args, **kwargs)
    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", recording)
    return opened


@pytest.fixture
def live(spooled):
    detector = GateOnlyDetector()
    app = create_app(detector, LIMIT, max_decodes=2)
    http_server = serve_server.create_server(app, "127.0.0.1", 0, threads=8,
                                             max_upload_bytes=LIMIT)
    stop = threading.Event()

    def run():  # waitress's own loop, a tick at a time, so the test can stop it cleanly
        while not stop.is_set():
            http_server.asyncore.loop(timeout=0.05, map=http_server._map, count=1)
        http_server.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield http_server.effective_port, detector, spooled
    stop.set()
    thread.join(10)


def request(port, method, path, body=b"", headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response, payload


def multipart(parts):
    boundary = "dfdboundary"
    body = io.BytesIO()
    for name, filename, data in parts:
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                   f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode())
        body.write(data + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_declared_oversize_with_expect_continue_gets_413_not_continue(live):
    port, _, spooled = live
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     b"Content-Length: 52428800\r\nExpect: 100-continue\r\n\r\n")
        first_line = sock.recv(4096).split(b"\r\n")[0]
    assert first_line.startswith(b"HTTP/1.1 413"), first_line
    assert spooled == []


def test_undeclared_chunked_oversize_is_cut_off_while_it_arrives(live):
    port, _, spooled = live
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
        answer = b""
        try:
            for _ in range(4 * LIMIT // 65536):  # four times the cap, unless cut off first
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert spooled == []


def test_body_just_under_the_cap_stays_in_memory(live):
    port, _, spooled = live
    response, _ = request(port, "POST", "/api/classify", b"\xff" * (LIMIT - 10),
                          {"Content-Type": "image/jpeg"})
    assert response.status == 415
    assert spooled == [], "the body was spooled to a temporary file"


def test_405_names_the_allowed_methods(live):
    port, _, _ = live
    response, _ = request(port, "GET", "/api/classify")
    assert response.status == 405
    assert "POST" in response.getheader("Allow", "")


def test_many_part_body_is_413_and_says_why(live):
    port, _, _ = live
    body, headers = multipart([("file", f"{i}.jpg", b"x") for i in range(1500)])
    response, payload = request(port, "POST", "/", body, headers)
    assert response.status == 413
    assert b"too many parts" in payload and b"MB limit" not in payload


def test_page_form_caps_files_per_request(live):
    port, _, _ = live
    image = jpeg_bytes(24, 24)
    body, headers = multipart([("file", f"{i}.jpg", image)
                               for i in range(MAX_FILES_PER_FORM + 1)])
    response, payload = request(port, "POST", "/", body, headers)
    assert response.status == 413 and f"at most {MAX_FILES_PER_FORM}".encode() in payload
    body, headers = multipart([("file", f"{i}.jpg", image) for i in range(MAX_FILES_PER_FORM)])
    assert request(port, "POST", "/", body, headers)[0].status == 200


@pytest.mark.parametrize("case", hostile.cases(), ids=lambda c: c.name)
def test_hostile_image_gets_its_status(live, case):
    port, _, spooled = live
    response, payload = request(port, "POST", "/api/classify", case.data,
                                {"Content-Type": "image/png"})
    assert response.status == case.status, payload[:200]
    assert b"Traceback" not in payload
    assert spooled == []


def test_one_hostile_file_does_not_cost_the_good_one_in_a_form(live):
    """A QOI header whose decoder raised IndexError: before the gate, the whole form got a
    500 and the good image's result was lost with it."""
    port, _, _ = live
    crafted = {case.name: case.data for case in hostile.cases()}
    if "header_only_qoi" not in crafted:
        pytest.skip("this Pillow cannot write QOI")
    body, headers = multipart([("file", "bad.qoi", crafted["header_only_qoi"]),
                               ("file", "good.jpg", jpeg_bytes(24, 24))])
    response, payload = request(port, "POST", "/", body, headers)
    assert response.status == 200
    assert payload.count(b'class="result real"') == 1
    assert payload.count(b'class="result failed"') == 1


def test_decoding_is_bounded_by_the_semaphore(live):
    port, detector, _ = live
    image = jpeg_bytes(64, 64)
    threads = [threading.Thread(target=request, args=(port, "POST", "/api/classify", image,
                                                      {"Content-Type": "image/jpeg"}))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert 1 <= detector.peak <= 2
