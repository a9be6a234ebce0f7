"""Reading a named file: regular files only, capped, never blocking."""

import os
import threading

import pytest

from dfd.imaging import files, gate


def test_regular_file_is_read(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"abc")
    assert files.read_image_file(str(path)) == b"abc"


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    result = {}
    reader = threading.Thread(target=lambda: result.update(
        error=pytest.raises(files.NotARegularFileError, files.read_image_file, str(fifo))))
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert "FIFO" in str(result["error"].value)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_device_is_refused():
    with pytest.raises(files.NotARegularFileError, match="character device"):
        files.read_image_file("/dev/zero")


def test_folder_is_refused(tmp_path):
    with pytest.raises(files.NotARegularFileError, match="folder"):
        files.read_image_file(str(tmp_path))


def test_size_cap_refuses_without_reading(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(b"x" * 101)
    with pytest.raises(gate.TooLargeError, match="over the 100 byte limit"):
        files.read_image_file(str(path), max_bytes=100)
    assert files.read_image_file(str(path), max_bytes=101) == b"x" * 101


def test_missing_file_is_named():
    with pytest.raises(files.UnreadableFileError, match="No such file"):
        files.read_image_file("/nowhere/x.jpg")
