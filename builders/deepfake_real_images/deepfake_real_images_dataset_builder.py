"""deepfake_real_images: Kaggle's "deepfake-and-real-images" (OpenForensics faces) for TFDS.

Build with:
  tfds build builders/deepfake_real_images --manual_dir=DIR --data_dir=OUT
where DIR holds the Kaggle zip, the extracted `Dataset/` folder, or a folder containing it.
Adding `--beam_pipeline_options=runner=...` builds the same examples as a Beam pipeline
(`beam_generation`); without Beam options the build runs in this one process.
"""

from __future__ import annotations

import os

import tensorflow_datasets as tfds
from absl import logging

from dfd.builders.deepfake_real_images import source_files, split_report
from dfd.builders.deepfake_real_images.source_tree import ArchiveError
from dfd.common import spec
from dfd.common.checksums import sha256_file

_DESCRIPTION = """
Face images labelled real (0) or fake (1), from the Kaggle "deepfake-and-real-images"
collection of OpenForensics faces (256x256 JPEG, splits Train/Validation/Test).

Source JPEGs are stored byte for byte, never re-encoded. Files that are not 8-bit RGB JPEG
but decode (grayscale, CMYK, 16-bit, palette or alpha PNG) are converted to RGB and stored
as lossless PNG. Files that cannot be decoded (empty, truncated, not an image, not JPEG,
PNG, WebP, BMP or GIF, or over {max_pixels} pixels) and zip entries refused from their
header (encrypted, links, oversized, zip bombs, bad CRC) are skipped; hidden (`.name`),
backup (`name~`), duplicate and misplaced files are ignored. Each is logged, and the
counts per split, with every such file and its reason, are in this dataset's metadata
(`info.metadata["splits"]`), together with a sha256 digest of each split's source files.
A zip is read in place, never extracted, and gives the same examples and digests as its
extracted folder. A split with no usable file is left out (TFDS stores no empty split)
and reported in the metadata.
""".format(max_pixels=spec.MAX_IMAGE_PIXELS)


def _sha256(path: str) -> str:
    """The zip's sha256, read through epath when it sits on a bucket."""
    if not source_files.is_remote(path):
        return sha256_file(path)
    with tfds.core.Path(path).open("rb") as f:
        return sha256_file(f)


class Builder(tfds.core.GeneratorBasedBuilder):
    """Kaggle deepfake-and-real-images, read from a manual download.

    Besides TFDS's documented methods it overrides `_download_and_prepare`,
    `_process_pipeline_result`, `_log_download_bytes` and `_log_download_done` and sets
    `pkg_dir_path`, TFDS internals with no public equivalent: tests/test_framework_hooks.py
    checks each against the installed TFDS, and setup.cfg caps its version."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release: source JPEG bytes kept, odd images converted to PNG, "
                 "undecodable files dropped and counted in metadata.",
        "1.1.0": "Hostile input: the zip is read in place, never extracted, each entry "
                 "checked from its header (size, ratio, type, name, encryption) and its CRC; "
                 "files are decoded only through dfd.imaging's gate (JPEG, PNG, WebP, BMP, "
                 "GIF; dimension, decoder-memory and JPEG scan limits). Metadata per split "
                 "now also counts `ignored` files with `ignored_files` reasons (hidden, "
                 "backup, duplicate and nested names, which 1.0.0 dropped uncounted or let "
                 "overwrite each other), and `skipped` includes refused zip entries; a split "
                 "with no usable file is left out and reported. A zip and its extracted "
                 "folder give the same examples and digests. A clean Kaggle download gives "
                 "the same examples as 1.0.0.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download "deepfake-and-real-images" from Kaggle (an archive holding
    Dataset/{Train,Validation,Test}/{Fake,Real}/*.jpg) and pass --manual_dir=DIR, where DIR
    holds the zip as downloaded, the extracted Dataset/ folder, or a folder containing it.
    """
    MAX_IMAGE_PIXELS = spec.MAX_IMAGE_PIXELS
    # TFDS looks for README.md and CITATIONS.bib under the top package's folder followed by
    # the module path (dfd/builders/...), a folder an editable install (package_dir maps
    # dfd.builders onto builders/) does not have; this folder is where they are.
    pkg_dir_path = tfds.core.Path(__file__).parent

    def _log_download_bytes(self) -> None:
        """Replaces TFDS's bold "Downloading and preparing dataset Unknown size (download:
        Unknown size, ...)" print: nothing is downloaded, and a log line follows --verbosity."""
        logging.info("deepfake_real_images: building %s into %s", self.version, self.data_dir)

    def _log_download_done(self) -> None:
        logging.info("deepfake_real_images: built into %s (later builds reuse it)",
                     self.data_dir)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                # No encoding_format: kept JPEG bytes and converted PNG bytes both pass
                # through as they are, and TFDS decodes either.
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(names=list(spec.LABELS)),
                "file_name": tfds.features.Text(),
            }),
            supervised_keys=("image", "label"),
            homepage="https://www.kaggle.com/datasets/manjilkarki/deepfake-and-real-images",
            license="CC BY 4.0",
            metadata=tfds.core.MetadataDict(),
        )

    def _download_and_prepare(self, dl_manager, download_config):
        """Chooses the Beam form when the user gave Beam a runner or options (`tfds build
        --beam_pipeline_options=...`): the plain build stays the default, and the choice
        changes how examples are made, never which (the dataset's name and path stay)."""
        self._beam_reports = {}
        self._use_beam = (download_config.beam_runner is not None
                          or download_config.beam_options is not None)
        return super()._download_and_prepare(dl_manager, download_config)

    def _locate_source(self, dl_manager):
        """(tree, root) of the download: its folder, or its zip read in place (never
        extracted, so a hostile archive cannot write anything)."""
        manual_dir = os.fspath(dl_manager.manual_dir)
        tree = source_files.folder_tree(manual_dir)
        root = source_files.find_root_in(tree)
        source = {"manual_dir": manual_dir}
        if root is None:
            archive = source_files.find_zip(manual_dir)
            if archive is None:
                raise FileNotFoundError(
                    f"{manual_dir} holds neither Dataset/{{Train,Validation,Test}}/{{Real,Fake}} "
                    f"folders nor a .zip of them.{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
            source.update(archive=os.path.basename(archive), archive_sha256=_sha256(archive))
            try:
                tree = source_files.open_tree(archive)
            except ArchiveError as e:
                raise FileNotFoundError(f"{e}.{self.MANUAL_DOWNLOAD_INSTRUCTIONS}") from None
            root = source_files.find_root_in(tree)
            if root is None:
                raise FileNotFoundError(
                    f"{archive} has no Dataset/{{Train,Validation,Test}}/{{Real,Fake}} folders.")
        source["dataset_root"] = tree.describe(root)
        self.info.metadata["source"] = source
        self.info.metadata.setdefault("splits", {})
        self.info.metadata.setdefault("class_counts", {})
        return tree, root

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        tree, root = self._locate_source(dl_manager)
        listed = [s for s in source_files.SPLIT_FOLDERS if source_files.list_split(tree, root, s)]
        if not listed:
            raise FileNotFoundError(
                f"{tree.describe(root)} has split folders but no files in them.")
        usable = []
        for split in listed:
            if self._has_an_example(tree, root, split):
                usable.append(split)
            else:  # TFDS cannot store an empty split: report it instead of failing the build
                report = self._report(tree, root, split)
                logging.warning("deepfake_real_images: split %s left out: none of its %d "
                                "files is a usable image (reasons in metadata['splits'])",
                                split, report["files"])
        if not usable:
            raise FileNotFoundError(
                f"{tree.describe(root)}: no split holds a single usable image; every file's "
                f"reason is logged above.")
        if getattr(self, "_use_beam", False):
            return {split: self._beam_split(tree, root, split) for split in usable}
        return {split: self._generate_examples(tree, root, split) for split in usable}

    def _beam_split(self, tree, root: str, split: str):
        from dfd.builders.deepfake_real_images import beam_generation
        path = os.fspath(self.data_path / f"{split}.beam_report.json")
        self._beam_reports[split] = path
        return beam_generation.generate_split(tree, root, split, self.MAX_IMAGE_PIXELS, path)

    def _process_pipeline_result(self, pipeline_result) -> None:
        """Moves each split's report, written by the workers, into `info.metadata`."""
        from dfd.builders.deepfake_real_images import beam_generation
        for split, path in getattr(self, "_beam_reports", {}).items():
            report, class_counts = beam_generation.read_report(path)
            self.info.metadata["splits"][split] = report
            self.info.metadata["class_counts"][split] = class_counts
            tfds.core.Path(path).unlink()

    def _has_an_example(self, tree, root, split) -> bool:
        """True as soon as one file of the split is usable (usually the first one)."""
        return any(vetted.action in ("kept", "converted") for _, _, vetted in
                   source_files.iter_vetted(tree, root, split, self.MAX_IMAGE_PIXELS))

    def _report(self, tree, root, split) -> dict:
        """Runs through a split without keeping anything, for its metadata report."""
        for _ in self._vetted_examples(tree, root, split):
            pass
        return self.info.metadata["splits"][split]

    def _generate_examples(self, tree, root: str, split: str):
        yield from self._vetted_examples(tree, root, split)

    def _vetted_examples(self, tree, root: str, split: str):
        summary = split_report.Summary(split)
        progress = split_report.Progress(split)
        for order, (class_name, name, vetted) in enumerate(source_files.iter_vetted(
                tree, root, split, self.MAX_IMAGE_PIXELS)):
            progress.tick()
            record = split_report.FileRecord((0, order), class_name, name, vetted.action,
                                             vetted.reason, vetted.sha256)
            split_report.log_record(split, record)
            summary.add(record)
            if vetted.encoded is not None:
                yield record.key, {"image": vetted.encoded, "label": class_name,
                                   "file_name": split_report.printable(name)}
        report, class_counts = summary.result()
        self.info.metadata["splits"][split] = report
        self.info.metadata["class_counts"][split] = class_counts
