"""Serve the upload page: `python -m dfd.serve --model=PATH.tflite` (also `dfd-serve`).

Waitress, a production WSGI server in pure Python that runs on a Pi, never Flask's debug
server. Binds to loopback unless --host says otherwise: exposing a service is a decision.
"""

from __future__ import annotations

import argparse
import logging
import sys

from dfd.lite import options
from dfd.serve import allocator, server
from dfd.serve.app import create_app


def parse_args(argv):
    parser = options.Parser(prog="dfd-serve", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="exported .tflite (model.json beside it)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default loopback; 0.0.0.0 exposes it)")
    options.PORT.add(parser)
    options.REQUEST_THREADS.add(parser, default=None)
    options.REQUEST_THREADS.add(parser, "--threads", default=None, dest="old_threads",
                                help="deprecated alias of --request_threads, for this release "
                                     "only (from the next, --threads sets interpreter threads "
                                     "as in dfd-lite and dfd-score)")
    options.add_model_options(
        parser, threads_flag="--model_threads",
        threads_help="interpreter threads per inference, dfd-lite's --threads (default: the "
                     "cores this process may use)",
        kernels_help="auto: XNNPACK if it reproduces the bundle's golden vectors, else "
                     "builtin (the reason is in /healthz and the page footer)")
    options.MAX_FILE_MB.add(parser, "--max_upload_mb", default=None, dest="max_upload_mb",
                            help="deprecated alias of --max_file_mb, for this release only")
    options.MAX_DECODES.add(parser)
    options.MAX_CONNECTIONS.add(parser)
    args = parser.parse_args(argv)
    if args.old_threads is not None:
        if args.request_threads not in (None, args.old_threads):
            parser.error("--threads (deprecated) and --request_threads disagree: give "
                         "--request_threads only")
        options.deprecated("dfd-serve", "--threads", "--request_threads",
                           " (here --threads means request threads for this release only; "
                           "next it will mean interpreter threads, today's --model_threads)")
        args.request_threads = args.old_threads
    if args.request_threads is None:
        args.request_threads = options.REQUEST_THREADS.default
    if args.max_upload_mb is not None:
        options.deprecated("dfd-serve", "--max_upload_mb", "--max_file_mb",
                           " (the same limit, as dfd-lite and dfd-score name it)")
        args.max_file_mb = args.max_upload_mb
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    allocator.limit_arenas()  # before the interpreter's and the request threads start
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    detector = options.open_detector("dfd-serve", args.model, args)
    if detector is None:
        return 2
    max_upload_bytes = options.max_bytes(args)
    app = create_app(detector, max_upload_bytes, args.max_decodes)
    http = server.create_server(app, args.host, args.port, args.request_threads,
                                max_upload_bytes,
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
