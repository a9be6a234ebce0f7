"""Files written into a folder the user names never go through a link planted there."""

import os

import pytest

from dfd.common import atomic


def test_a_link_at_the_name_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "map.png").symlink_to(victim)
    atomic.write_bytes(out / "map.png", b"png bytes")
    assert victim.read_text() == "keep me"
    assert not (out / "map.png").is_symlink() and (out / "map.png").read_bytes() == b"png bytes"
    assert sorted(os.listdir(out)) == ["map.png"], "no partial file is left behind"


def test_a_folder_at_the_name_is_an_oserror_and_leaves_nothing(tmp_path):
    (tmp_path / "map.png").mkdir()
    with pytest.raises(OSError):
        atomic.write_bytes(tmp_path / "map.png", b"x")
    assert sorted(os.listdir(tmp_path)) == ["map.png"]


def test_the_file_gets_the_usual_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic.write_bytes(tmp_path / "a", b"x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o644
