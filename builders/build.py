"""`python -m dfd.builders.build`: builds deepfake_real_images showing progress and results.

`tfds build builders/deepfake_real_images` builds the same dataset, but TFDS's command turns
every INFO log on whatever --verbosity says, draws nested progress bars (a new line per
refresh when stderr is not a terminal: CI, `make demo > log`) and ends by printing the whole
DatasetInfo, ~110 lines around the few that matter. This command runs the same builder with
the same flag names and shows dfd's own lines only: a line per split with its counts, a
progress line every 30 s on long splits, each skipped file as a warning, and a closing table.
`--verbosity=0` (or DFD_FRAMEWORK_LOGS=1) brings TFDS's logs and progress bars back.

    python -m dfd.builders.build --manual_dir=DIR --data_dir=OUT
        [--beam_pipeline_options=runner=DirectRunner,...] [--num_shards=N] [--overwrite]
"""

from __future__ import annotations

import logging
import os
import sys
import time

from absl import flags

from dfd.cli import quiet

flags.DEFINE_string("data_dir", None, "TFDS data dir the dataset is written to (created when "
                    "missing).")
flags.DEFINE_string("manual_dir", None, "Folder holding the Kaggle zip as downloaded, the "
                    "extracted Dataset/ folder, or a folder containing it.")
flags.DEFINE_string("beam_pipeline_options", None,
                    "Build on Apache Beam with these comma-separated pipeline options "
                    "(e.g. runner=DirectRunner,direct_num_workers=0,"
                    "direct_running_mode=multi_processing); without them the build runs "
                    "in this process.")
flags.DEFINE_integer("num_shards", None, "Files per split (as tfds build's --num_shards); "
                     "default: TFDS's, about one per 1 GB. A multi-worker run reads by file "
                     "only when a split has at least one file per worker.")
flags.register_validator("num_shards", lambda v: v is None or v >= 1,
                         "--num_shards must be at least 1.")
flags.DEFINE_boolean("overwrite", False, "Build again even if --data_dir already holds "
                     "this version of the dataset.")
flags.register_validator(
    "manual_dir", lambda v: v is None or (os.path.isdir(v) and bool(os.listdir(v))),
    "--manual_dir must be an existing folder holding the Kaggle download (it is missing "
    "or empty).")
flags.register_validator(
    "data_dir", lambda v: v is None or not os.path.isfile(v),
    "--data_dir must be the folder the dataset is written to (created when missing), not "
    "a file.")


class FalseAlarms(logging.Filter):
    """Drops two warnings that are no problem of the user's: TFDS's "Variant folder
    OUT/deepfake_real_images/1.1.0 has no dataset_info.json", said of the very folder a
    fresh build is about to fill (or of an interrupted build's, which this one replaces),
    and Beam's "apitools not found", said on import about Google Cloud clients a local
    build does not use."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "Variant folder %s has no %s"
                    or str(record.msg).startswith("apitools not found"))


def download_config(manual_dir: str, beam_pipeline_options: str | None, overwrite: bool,
                    num_shards: int | None = None):
    """What `tfds build` makes of the same flags: Beam options split on commas, and
    --overwrite rebuilding the dataset (there is nothing downloaded to reuse or redo)."""
    import tensorflow_datasets as tfds
    mode = (tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS if overwrite
            else tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS)
    config = tfds.download.DownloadConfig(manual_dir=manual_dir, download_mode=mode,
                                          num_shards=num_shards)
    if beam_pipeline_options:
        from apache_beam.options.pipeline_options import PipelineOptions
        config.beam_options = PipelineOptions(
            flags=[f"--{option}" for option in beam_pipeline_options.split(",")])
    return config


def build(manual_dir: str, data_dir: str, beam_pipeline_options: str | None = None,
          overwrite: bool = False, num_shards: int | None = None):
    """(builder, whether this call built it): an existing build of this version is reused
    unless `overwrite`, as with `tfds build`."""
    from dfd.builders.deepfake_real_images.deepfake_real_images_dataset_builder import Builder
    builder = Builder(data_dir=data_dir)
    built_before = builder.is_prepared()
    builder.download_and_prepare(
        download_config=download_config(manual_dir, beam_pipeline_options, overwrite,
                                        num_shards))
    return builder, overwrite or not built_before


def summary(builder) -> str:
    """The closing table: examples per split and what happened to every other file."""
    reports = builder.info.metadata.get("splits", {})
    lines = [f"{builder.info.full_name} in {builder.data_dir}"]
    for split, report in reports.items():
        stored = builder.info.splits[split].num_examples if split in builder.info.splits else 0
        lines.append(
            f"  {split:<11}{stored:>8} examples  ({report['kept']} kept as they are, "
            f"{report['converted']} converted to PNG, {report['skipped']} skipped, "
            f"{report['ignored']} ignored)" + ("" if stored else "  LEFT OUT: no usable file"))
    if any(r["skipped"] or r["ignored"] for r in reports.values()):
        lines.append("  every skipped or ignored file and its reason: metadata.json in that "
                     "folder (info.metadata['splits'])")
    return "\n".join(lines)


def main(argv) -> None:
    from absl import flags
    from absl import logging as absl_logging
    import tensorflow_datasets as tfds
    del argv
    FLAGS = flags.FLAGS
    quiet.quiet_frameworks()
    if not (quiet.logs_requested() or FLAGS["verbosity"].present):
        tfds.disable_progress_bar()
        absl_logging.get_absl_handler().addFilter(FalseAlarms())
    start = time.monotonic()
    try:
        builder, built = build(FLAGS.manual_dir, FLAGS.data_dir, FLAGS.beam_pipeline_options,
                               FLAGS.overwrite, FLAGS.num_shards)
    except FileNotFoundError as e:  # the builder's own message names the folder and the fix
        sys.exit(f"dfd.builders.build: {e}")
    print(summary(builder))
    print(f"  built in {time.monotonic() - start:.1f} s" if built else
          "  already built: nothing done (--overwrite builds it again)")


def run() -> None:
    from dfd.cli import run_flags
    quiet.import_tensorflow()  # TFDS loads TensorFlow: its C++ start-up lines held back
    run_flags.run_program(main, required=["manual_dir", "data_dir"])


if __name__ == "__main__":
    run()
