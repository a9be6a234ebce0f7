"""Serve the upload page: `python -m dfd.serve --model=PATH.tflite` (also `dfd-serve`).

Waitress, a production WSGI server in pure Python that runs on a Pi, never Flask's debug
server. Binds to loopback unless --host says otherwise: exposing a service is a decision.
"""

from __future__ import annotations

import argparse
import logging
import sys

from dfd.lite.detector import FACES, Detector, ModelError
from dfd.lite.faces import DEFAULT_MIN_FACE
from dfd.lite.interpreter import KERNELS, NoInterpreterError
from dfd.serve import allocator, server
from dfd.serve.app import DEFAULT_MAX_DECODES, DEFAULT_MAX_UPLOAD_BYTES, create_app


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="dfd-serve", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="exported .tflite (model.json beside it)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; 0.0.0.0 exposes it)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=4, help="request threads")
    parser.add_argument("--model_threads", type=int, default=None,
                        help="interpreter threads per inference (default: the cores this "
                             "process may use)")
    parser.add_argument("--threshold", default=None,
                        help="number or model.json threshold name (default: the card's)")
    # calibration and verdicts (issue 22)
    parser.add_argument("--uncertain", default=None, metavar="LOW,HIGH",
                        help="verdict uncertain when LOW < P(fake) < HIGH; off for two-way "
                             "verdicts (default: the band model.json chose on validation)")
    parser.add_argument("--kernels", choices=KERNELS, default="auto",
                        help="auto: XNNPACK if it reproduces the bundle's golden vectors, else "
                             "builtin (the reason is in /healthz and the page footer)")
    parser.add_argument("--faces", choices=FACES, default="auto",
                        help="judge each face the bundle's detector finds (auto: faces when "
                             "any is found, else the whole image; off: whole images)")
    parser.add_argument("--min_face", type=float, default=DEFAULT_MIN_FACE,
                        help="smallest face searched for, in photo pixels")
    parser.add_argument("--max_upload_mb", type=float,
                        default=DEFAULT_MAX_UPLOAD_BYTES / (1024 * 1024),
                        help="larger uploads get 413, while they arrive")
    parser.add_argument("--max_decodes", type=int, default=DEFAULT_MAX_DECODES,
                        help="images decoded at once (bounds the server's memory)")
    parser.add_argument("--max_connections", type=int, default=server.DEFAULT_MAX_CONNECTIONS,
                        help="connections at once (each may hold one upload in memory)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1..65535, got {args.port}")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.max_decodes < 1 or args.max_connections < 1:
        parser.error("--max_decodes and --max_connections must be at least 1")
    if args.max_upload_mb <= 0:
        parser.error("--max_upload_mb must be positive")
    if args.min_face <= 0:
        parser.error("--min_face must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    allocator.limit_arenas()  # before the interpreter's and the request threads start
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        detector = Detector(args.model, threads=args.model_threads, threshold=args.threshold,
                            kernels=args.kernels, faces=args.faces, min_face=args.min_face,
                            uncertain=args.uncertain)
    except (ModelError, NoInterpreterError) as e:
        print(f"dfd-serve: {e}", file=sys.stderr)
        return 2
    max_upload_bytes = int(args.max_upload_mb * 1024 * 1024)
    app = create_app(detector, max_upload_bytes, args.max_decodes)
    http = server.create_server(app, args.host, args.port, args.threads, max_upload_bytes,
                                args.max_connections)
    print(f"dfd-serve: {detector.description['file']} on http://{args.host}:{args.port}/, "
          f"{detector.kernels} kernels: {detector.kernel_choice.reason}", flush=True)
    try:
        http.run()
    except KeyboardInterrupt:
        pass
    finally:
        http.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
