"""A source on a bucket (gs://, s3://, hdfs://) is read through etils.epath; these builds
send local files down that same code path and require the local reader's dataset."""

import pytest
import tensorflow_datasets as tfds

from dfd.builders.deepfake_real_images import Builder, source_files, source_tree
from conftest import bad_collection, write_hostile_zip, write_kaggle_folder


def build(manual_dir, data_dir):
    builder = Builder(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


@pytest.fixture
def as_if_remote(monkeypatch):
    def enable():
        for module in (source_files, source_tree):
            monkeypatch.setattr(module, "is_remote", lambda path: True)
    return enable


def test_folder_read_as_remote_gives_the_local_dataset(tmp_path, as_if_remote):
    write_kaggle_folder(tmp_path / "src", bad_collection())
    local = build(tmp_path / "src", tmp_path / "local").info.metadata
    as_if_remote()
    assert isinstance(source_files.folder_tree(str(tmp_path)), source_tree.RemoteFolderTree)
    remote = build(tmp_path / "src", tmp_path / "remote").info.metadata
    assert remote["splits"] == local["splits"]
    assert remote["class_counts"] == local["class_counts"]


def test_zip_read_as_remote_keeps_every_entry_rule(tmp_path, as_if_remote):
    (tmp_path / "zipped").mkdir()
    write_hostile_zip(tmp_path / "zipped" / "kaggle.zip")
    local = build(tmp_path / "zipped", tmp_path / "local").info.metadata
    as_if_remote()
    remote = build(tmp_path / "zipped", tmp_path / "remote").info.metadata
    assert remote["splits"] == local["splits"]
    assert remote["source"]["archive_sha256"] == local["source"]["archive_sha256"]
