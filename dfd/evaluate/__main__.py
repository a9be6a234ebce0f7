"""Evaluation binary: `python -m dfd.evaluate --workdir=runs/x [--split=test]` (`dfd-evaluate`).

Writes the run's metrics.json and plots again (dfd.evaluate.report), on the splits asked for,
from the checkpoint chosen on validation; `--data_dir` when the data moved since training.
"""

from __future__ import annotations

import sys

from absl import flags

from dfd.cli import quiet  # first: TensorFlow reads its log level as it loads
from dfd.cli import run_flags

quiet.import_tensorflow()  # a binary, not a library: its C++ start-up lines held back
from dfd.evaluate import report as evaluation  # noqa: E402
from dfd.evaluate.run_folder import load_config, run_sources  # noqa: E402
from dfd.train import pipeline, sources  # noqa: E402

FLAGS = flags.FLAGS
run_flags.define_run_folder()
run_flags.define_source_names()
run_flags.define_robustness()
SPLIT = flags.DEFINE_list("split", None, "Splits to report (default: every split).")


def main(argv) -> None:
    del argv
    quiet.quiet_frameworks()
    try:
        config = load_config(FLAGS.workdir, FLAGS.data_dir)
        found = run_sources(config, FLAGS.data_dir, FLAGS.source_names)
        for source in found:
            sources.check_built(source, config["dataset"])
            if FLAGS["robustness_splits"].present:  # the default names test, maybe absent
                pipeline.require_splits(source.data_dir, config["dataset"],
                                        "robustness_splits", FLAGS.robustness_splits)
        report = evaluation.evaluate_workdir(FLAGS.workdir, SPLIT.value, FLAGS.robustness,
                                             FLAGS.robustness_splits, FLAGS.data_dir,
                                             FLAGS.source_names)
    except (FileNotFoundError, pipeline.SplitError, sources.SourceError) as e:
        print(f"evaluate failed: {e}", file=sys.stderr)
        sys.exit(1)
    evaluation.print_report(report)


def run() -> None:
    run_flags.run_program(main, required=["workdir"])


if __name__ == "__main__":
    run()
