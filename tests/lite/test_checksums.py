"""One sha256 of a file for every side: given a path or an open binary file."""

import hashlib
import io

from dfd.common.checksums import sha256_file


def test_a_path_and_a_file_object_give_the_same_digest(tmp_path):
    data = bytes(range(256)) * 5000
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == sha256_file(str(path)) == expected
    with open(path, "rb") as f:
        assert sha256_file(f) == expected
    assert sha256_file(io.BytesIO(data)) == expected
