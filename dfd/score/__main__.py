"""Score many images with Beam: `dfd-score --model=M.tflite --input=GLOB --output=PREFIX`.

Any further arguments are Beam pipeline options (`--runner`, `--direct_num_workers`,
`--direct_running_mode`, `--project`, ...). Writes one record per matched file, with
`file`, `p_fake`, `verdict`, `threshold` and `model_sha256` (with `--faces=auto|on`, the
default auto, also `judged` and `faces`, as `dfd-lite classify`), or `file` and `error` for
a file that is not a usable image, to PREFIX-*.jsonl (or .parquet), and a summary on stderr.
Exit status as `dfd-lite classify`: 0 all classified, 1 some files failed, 2 the model or
the command line is unusable. Plain argparse, no absl and no TensorFlow: `pip install
"dfd[score]"` is Beam plus the edge runtime, so cluster workers stay small.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from dfd.common.checksums import sha256_file
from dfd.lite import options
from dfd.score import bundle, outputs

LOGS_ENV = "DFD_FRAMEWORK_LOGS"


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = options.Parser(
        prog="dfd-score", description=__doc__.split("\n")[0],
        epilog="Other arguments are passed to Beam as pipeline options.")
    parser.add_argument("--model", required=True,
                        help="an exported .tflite file, model.json beside it (local or any "
                             "Beam file system path)")
    parser.add_argument("--input", required=True, action="append",
                        help="glob of images (local, gs://, s3://, hdfs://, ...); repeat "
                             "for several. Every matched file is tried and answered")
    parser.add_argument("--output", required=True,
                        help="output prefix: writes PREFIX-SSSSS-of-NNNNN.jsonl (.parquet)")
    parser.add_argument("--format", choices=outputs.FORMATS, default="jsonl")
    options.add_model_options(
        parser, threads_default=1,
        threads_help="interpreter threads per worker process (default 1: Beam scales with "
                     "processes, one per core)",
        kernels_help="CPU kernels on each worker, as dfd-lite's --kernels")
    options.BATCH_SIZE.add(parser)
    args, beam_args = parser.parse_known_args(argv)
    return args, beam_args


def logs_requested(beam_args: list[str]) -> bool:
    return os.environ.get(LOGS_ENV) == "1" or any(
        a.startswith("--default_sdk_harness_log_level") for a in beam_args)


def pipeline_options(beam_args: list[str]):
    """Beam's options from the remaining arguments; the workers' INFO and WARNING chatter
    (start-up notes repeated per worker process) off unless asked for."""
    from apache_beam.options.pipeline_options import PipelineOptions
    if not logs_requested(beam_args):
        beam_args = [*beam_args, "--default_sdk_harness_log_level=ERROR"]
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
    return PipelineOptions(beam_args)


def check_inputs(globs: list[str]) -> str | None:
    """A message naming the first glob that matches nothing, else None."""
    from dfd.score import reading
    for pattern in globs:
        try:
            found = next(reading.match(pattern), None)
        except Exception as e:  # noqa: BLE001 - a bad scheme or bucket is the user's to fix
            return f"--input={pattern}: {e}"
        if found is None:
            return f"--input={pattern} matches no file"
    return None


def main(argv: list[str] | None = None) -> int:
    args, beam_args = parse_args(argv)
    import apache_beam as beam

    from dfd.score import pipeline as scoring
    from dfd.score.handler import DetectorHandler

    beam_options = pipeline_options(beam_args)
    try:  # on the driver first, so an unusable model fails here and not on every worker
        local = bundle.local_model(args.model)
        sha256 = sha256_file(local)
    except (OSError, ValueError) as e:
        print(f"dfd-score: {args.model}: {e}", file=sys.stderr)
        return 2
    detector = options.open_detector("dfd-score", local, args)
    if detector is None:
        return 2
    problem = check_inputs(args.input)
    if problem:
        print(f"dfd-score: {problem}", file=sys.stderr)
        return 2
    print(f"dfd-score: {os.path.basename(args.model)} sha256 {sha256[:12]}, threshold "
          f"{detector.threshold}; on this machine {detector.kernels} kernels: "
          f"{detector.kernel_choice.reason}", file=sys.stderr, flush=True)
    handler = DetectorHandler(args.model, max_batch_size=args.batch_size,
                              **options.detector_settings(args))
    p = beam.Pipeline(options=beam_options)
    scoring.build(p, args.input, handler, args.output, args.format,
                  options.max_bytes(args))
    result = p.run()
    result.wait_until_finish()
    totals = scoring.counts(result)
    where = f"{args.output}-*.{args.format}"
    if totals is None:
        print(f"dfd-score: done, records in {where} (this runner reports no counts)",
              file=sys.stderr)
        return 0
    real = totals["classified"] - totals["fake"] - totals["no_face"]
    faceless = f", {totals['no_face']} with no face" if totals["no_face"] else ""
    print(f"dfd-score: {totals['classified']} classified ({totals['fake']} fake, {real} real"
          f"{faceless}), {totals['failed']} failed; records in {where}", file=sys.stderr)
    return 1 if totals["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
