"""setup.cfg ships only files that exist: a package_data pattern that matches nothing is a
file a user is told about (or a packager expects) and never gets."""

import configparser
import pathlib

import pytest

from conftest import ROOT


def setup_cfg():
    config = configparser.ConfigParser()
    config.optionxform = str  # package names are case-sensitive, as setuptools reads them
    config.read(ROOT / "setup.cfg")
    return config


def package_folder(package: str, config) -> pathlib.Path:
    """A package's folder, following [options] package_dir where it maps one."""
    mapping = {}
    for line in config["options"].get("package_dir", "").strip().splitlines():
        name, _, folder = line.partition("=")
        mapping[name.strip()] = folder.strip()
    parts = package.split(".")
    for cut in range(len(parts), -1, -1):
        prefix = ".".join(parts[:cut])
        if prefix in mapping:
            return ROOT / mapping[prefix] / "/".join(parts[cut:])
    return ROOT / "/".join(parts)


PACKAGE_DATA = [(package, pattern.strip())
                for package, patterns in setup_cfg()["options.package_data"].items()
                for pattern in patterns.split(",")]


@pytest.mark.parametrize("package,pattern", PACKAGE_DATA)
def test_every_package_data_pattern_matches_a_file(package, pattern):
    folder = package_folder(package, setup_cfg())
    assert folder.is_dir(), f"setup.cfg: package_data names {package}, which has no {folder}"
    assert any(p.is_file() for p in folder.glob(pattern)), (
        f"setup.cfg ships {package}: {pattern}, which matches no file in {folder}")
