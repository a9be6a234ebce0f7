"""The Kaggle zip read in place: every hostile entry is that entry's skip, never the
build's traceback, nothing is written, and a zip lists exactly like its folder."""

import os
import stat
import zipfile

import pytest

from dfd.builders.deepfake_real_images import source_files
from dfd.builders.deepfake_real_images.source_tree import ArchiveError, ZipTree
from conftest import jpeg_bytes, write_kaggle_folder
from dfd.common import spec

LIMIT = spec.MAX_IMAGE_PIXELS
GOOD = {f"Train/{c}/{c.lower()}_{i}.jpg": jpeg_bytes(seed=i + 5 * (c == "Fake"))
        for c in ("Real", "Fake") for i in range(2)}


def fates(tree, split="train"):
    """{class/name: Vetted}, the first entry of a name winning (duplicates are tested apart)."""
    root = source_files.find_root_in(tree)
    found = {}
    for c, n, v in source_files.iter_vetted(tree, root, split, LIMIT):
        found.setdefault(f"{c}/{n}", v)
    return found


def add(archive, name, data, **attributes):
    info = zipfile.ZipInfo(name)
    info.compress_type = attributes.pop("compress_type", zipfile.ZIP_DEFLATED)
    for key, value in attributes.items():
        setattr(info, key, value)
    archive.writestr(info, data)


def set_encrypted(data: bytearray, name: bytes):
    """Sets the encryption flag of `name` in its local and central headers (zipfile
    itself never writes encrypted entries)."""
    start = 0
    while (at := data.find(name, start)) >= 0:
        for signature, name_offset, flag_offset in ((b"PK\x03\x04", 30, 6),
                                                   (b"PK\x01\x02", 46, 8)):
            header = at - name_offset
            if data[header:header + 4] == signature:
                data[header + flag_offset] |= 0x1
        start = at + 1


@pytest.fixture
def hostile_zip(tmp_path):
    path = tmp_path / "kaggle.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in GOOD.items():
            add(z, f"Dataset/{name}", data)
        add(z, "Dataset/Train/Real/zeros.jpg", bytes(12 * 1024 * 1024))  # 12 KB compressed
        add(z, "Dataset/Train/Real/link.jpg", "/etc/passwd",
            external_attr=(stat.S_IFLNK | 0o777) << 16)
        add(z, "Dataset/Train/Real/secret.jpg", jpeg_bytes(seed=3))
        add(z, "Dataset/Train/Real/" + "n" * 300 + ".jpg", jpeg_bytes(seed=4))
        add(z, "Dataset/Train/Real/.hidden.jpg", jpeg_bytes(seed=6))
        add(z, "Dataset/Train/Real/edit.jpg~", jpeg_bytes(seed=7))
        add(z, "Dataset/Train/Fake/fake_0.jpg", jpeg_bytes(seed=8))  # duplicate name
        add(z, "Dataset/Train/Fake/nested/deep.jpg", jpeg_bytes(seed=9))
        add(z, "Dataset/Train/Fake/badcrc.jpg", jpeg_bytes(seed=10),
            compress_type=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    set_encrypted(data, b"Dataset/Train/Real/secret.jpg")
    marker = data.index(b"badcrc.jpg") + len(b"badcrc.jpg")  # local header, then the data
    data[marker + 100] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_every_hostile_entry_is_skipped_or_ignored_with_its_reason(hostile_zip, tmp_path):
    before = set(os.listdir(tmp_path))
    found = fates(ZipTree(str(hostile_zip)))
    reasons = {key: (v.action, v.reason) for key, v in found.items()}
    assert [k for k, v in found.items() if v.action == "kept"] == [
        "real/real_0.jpg", "real/real_1.jpg", "fake/fake_0.jpg", "fake/fake_1.jpg"]
    action, reason = reasons["real/zeros.jpg"]
    assert action == "skipped" and "byte limit" in reason
    assert reasons["real/link.jpg"] == ("skipped", "symbolic link entry (never followed)")
    assert reasons["real/secret.jpg"] == ("skipped", "encrypted entry")
    assert "255 bytes" in reasons["real/" + "n" * 300 + ".jpg"][1]
    assert reasons["real/.hidden.jpg"][0] == "ignored"
    assert reasons["real/edit.jpg~"][0] == "ignored"
    assert reasons["fake/nested/deep.jpg"][0] == "ignored"
    assert "CRC" in reasons["fake/badcrc.jpg"][1]
    duplicates = [v for c, n, v in source_files.iter_vetted(
        ZipTree(str(hostile_zip)), "Dataset", "train", LIMIT) if n == "fake_0.jpg"]
    assert [v.action for v in duplicates] == ["kept", "ignored"]
    assert "duplicate" in duplicates[1].reason
    assert set(os.listdir(tmp_path)) == before, "reading the zip wrote something"


def test_zip_bomb_by_ratio_is_refused_from_the_header(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as z:
        add(z, "Dataset/Train/Real/a.jpg", jpeg_bytes())
        add(z, "Dataset/Train/Real/b.jpg", bytes(5 * 1024 * 1024))
    tree = ZipTree(str(path))
    tree_limit = fates(tree)["real/b.jpg"]
    assert tree_limit.action == "skipped" and "zip bomb" in tree_limit.reason


def test_not_a_zip_is_one_clear_error(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        ZipTree(str(path))


def test_zip_and_folder_list_the_same_files_and_reasons(tmp_path):
    files = {**GOOD, "Train/Real/.DS_Store": b"junk", "Train/Fake/old.jpg~": jpeg_bytes(),
             "Train/Fake/sub/x.jpg": jpeg_bytes(seed=2), "Train/Real/text.jpg": b"hello"}
    dataset = write_kaggle_folder(tmp_path / "src", files)
    path = tmp_path / "same.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in sorted(files.items()):
            z.writestr(f"Dataset/{name}", data)
    folder = source_files.FolderTree(str(dataset.parent))

    def summary(tree):
        return [(k, v.action, v.reason, v.sha256) for k, v in fates(tree).items()]
    assert summary(folder) == summary(ZipTree(str(path)))
    assert {a for _, a, _, _ in summary(folder)} == {"kept", "ignored", "skipped"}


def test_extract_split_writes_only_what_the_build_would_read(hostile_zip, tmp_path):
    """`make demo` classifies a zip's test images through this: no hostile entry is
    written, a duplicate never overwrites the first, nothing lands outside --out."""
    from dfd.builders.deepfake_real_images import extract_split
    out = tmp_path / "out"
    assert extract_split.main([f"--source={hostile_zip.parent}", "--split=train",
                               f"--out={out}"]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["Fake/fake_0.jpg", "Fake/fake_1.jpg", "Real/real_0.jpg",
                       "Real/real_1.jpg"]
    assert (out / "Fake" / "fake_0.jpg").read_bytes() == GOOD["Train/Fake/fake_0.jpg"]
    assert sorted(os.listdir(tmp_path)) == ["kaggle.zip", "out"]
    with pytest.raises(SystemExit):  # an existing --out is refused, never written into
        extract_split.main([f"--source={hostile_zip.parent}", f"--out={out}"])


def test_tfds_iter_archive_cannot_keep_the_entry_checks(tmp_path):
    """Why source_tree reads the zip itself (its docstring): TFDS's iter_archive stops at
    an encrypted entry, moves `Real/../Fake/` names into Fake and drops hidden names
    uncounted. If a TFDS release changes this, revisit source_tree."""
    from tensorflow_datasets.core.download import extractor, resource
    path = tmp_path / "k.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name in ("a.jpg", "secret.jpg", ".hidden.jpg", "../Fake/moved.jpg", "z.jpg"):
            add(z, f"Dataset/Test/Real/{name}", jpeg_bytes(8, 8))
    data = bytearray(path.read_bytes())
    set_encrypted(data, b"Dataset/Test/Real/secret.jpg")
    path.write_bytes(bytes(data))
    seen = []
    with pytest.raises(RuntimeError, match="encrypted"):
        for name, _ in extractor.iter_archive(str(path), resource.ExtractMethod.ZIP):
            seen.append(name)
    assert seen == ["Dataset/Test/Real/a.jpg"]
    found = fates(ZipTree(str(path)), "test")
    assert found["real/secret.jpg"].action == "skipped" and found["real/z.jpg"].action == "kept"
    assert found["real/.hidden.jpg"].action == "ignored"
    with zipfile.ZipFile(path, "w") as z:
        add(z, "Dataset/Test/Real/.hidden.jpg", jpeg_bytes(8, 8))
        add(z, "Dataset/Test/Real/../Fake/moved.jpg", jpeg_bytes(8, 8))
    assert [n for n, _ in extractor.iter_archive(str(path), resource.ExtractMethod.ZIP)] == [
        "Dataset/Test/Fake/moved.jpg"]
