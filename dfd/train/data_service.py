"""tf.data service servers for `python -m dfd.train --data_service=grpc://HOST:PORT`.

    python -m dfd.train.data_service dispatcher --port=5050 --workers=a:5051,b:5051
    python -m dfd.train.data_service worker --port=5051 --dispatcher=HOST:5050 --address=a

A trainer with --data_service ships its training pipeline (read, decode, cache, shuffle,
augment, batch) to these workers, so an input pipeline that cannot keep up with the GPUs
is widened by starting workers on more cores or machines. Each worker must see the data
dir at the path the trainer names. The dispatcher is told its workers up front because
dfd shards by file (dfd.train.pipeline.through_data_service): every worker gets a fixed
share of the split's files, and static shares need a fixed list of workers. Each server
runs until interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import signal
import sys
import time

from absl import app, flags

from dfd.cli import quiet

ROLES = ("dispatcher", "worker")

flags.DEFINE_integer("port", None, "Port this server listens on.")
flags.DEFINE_list("workers", None,
                  "dispatcher: every worker's HOST:PORT, as each worker names itself "
                  "(its --address and --port).")
flags.DEFINE_string("dispatcher", None, "worker: the dispatcher's HOST:PORT.")
flags.DEFINE_string("address", "localhost",
                    "worker: the host name the dispatcher lists it under (--workers).")
flags.register_validator("port", lambda v: v is None or 0 < v < 65536,
                         "--port must be between 1 and 65535.")


def dispatcher(port: int, workers: list[str]):
    import tensorflow as tf
    service = tf.data.experimental.service
    return service.DispatchServer(service.DispatcherConfig(port=port, worker_addresses=workers))


def worker(port: int, dispatcher_address: str, address: str = "localhost"):
    import tensorflow as tf
    service = tf.data.experimental.service
    return service.WorkerServer(service.WorkerConfig(
        dispatcher_address=dispatcher_address, worker_address=f"{address}:{port}", port=port))


def main(argv) -> None:
    quiet.quiet_frameworks()
    FLAGS = flags.FLAGS
    if len(argv) != 2 or argv[1] not in ROLES:
        raise app.UsageError(f"name the server to start: {' or '.join(ROLES)}")
    if FLAGS.port is None:
        raise app.UsageError("--port is required")
    if argv[1] == "dispatcher":
        if not FLAGS.workers:
            raise app.UsageError("dispatcher: --workers must list every worker's HOST:PORT")
        server = dispatcher(FLAGS.port, FLAGS.workers)
        print(f"tf.data service dispatcher on port {FLAGS.port} for "
              f"{len(FLAGS.workers)} worker(s); train with --data_service=grpc://"
              f"HOST:{FLAGS.port}", flush=True)
    else:
        if not FLAGS.dispatcher:
            raise app.UsageError("worker: --dispatcher=HOST:PORT is required")
        server = worker(FLAGS.port, FLAGS.dispatcher, FLAGS.address)
        print(f"tf.data service worker {FLAGS.address}:{FLAGS.port} of dispatcher "
              f"{FLAGS.dispatcher}", flush=True)
    # Not server.join(): a signal's Python handler runs only between bytecodes, never
    # while the main thread waits inside TensorFlow, so SIGTERM and Ctrl-C would be ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass  # the process ends; the server stops with it


def run() -> None:
    from dfd.cli import run_flags
    quiet.import_tensorflow()
    run_flags.run_program(main, required=[])


if __name__ == "__main__":
    run()
