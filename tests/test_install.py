"""What `pip install dfd` puts into site-packages: one top-level package, `dfd`.

builders/ and export/ live at the top of the repo but install as dfd.builders and dfd.export
(setup.cfg package_dir); a top-level `export` or `builders` would collide with any other
distribution's package so named. The wheel is built from a copy of the sources so the
checkout gets no build/ or egg-info folder, and without build isolation so no network is
needed (a few seconds).
"""

import configparser
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

INSTALLED_AS = {"dfd": "dfd", "export": "dfd/export", "builders": "dfd/builders"}
"""Source folder -> its path inside the wheel."""
NOT_INSTALLED = ("benchmarks", "tests")
"""Source folders a checkout runs from (`python -m benchmarks.<name>`, pytest) that the wheel
must not ship; copied into the build's source all the same, so a packages list that picked
them up would show here."""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in (*INSTALLED_AS, *NOT_INSTALLED):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "-w", str(base / "dist"), str(source)],
                   check=True, capture_output=True, timeout=300)
    (built,) = (base / "dist").glob("dfd-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def dist_info(archive: zipfile.ZipFile, name: str) -> str:
    (path,) = [p for p in archive.namelist() if p.endswith(f".dist-info/{name}")]
    return archive.read(path).decode()


def test_wheel_installs_only_the_dfd_package(wheel):
    record = [line.split(",")[0] for line in dist_info(wheel, "RECORD").splitlines() if line]
    top = {path.split("/")[0] for path in record}
    assert {name for name in top if not name.endswith(".dist-info")} == {"dfd"}, sorted(top)
    assert dist_info(wheel, "top_level.txt").split() == ["dfd"]


def test_wheel_holds_every_module_of_the_three_folders(wheel):
    """setup.cfg lists packages by name: a new subpackage left out of it fails here."""
    shipped = set(wheel.namelist())
    missing = [f"{folder}/{path.relative_to(ROOT / folder)}"
               for folder, inside in INSTALLED_AS.items()
               for path in sorted((ROOT / folder).rglob("*.py"))
               if "__pycache__" not in path.parts
               and f"{inside}/{path.relative_to(ROOT / folder).as_posix()}" not in shipped]
    assert not missing, f"setup.cfg [options] packages leaves out {missing}"
    for name in ("README.md", "CITATIONS.bib", "TAGS.txt"):  # what TFDS reads as metadata
        assert f"dfd/builders/deepfake_real_images/{name}" in shipped, name


def test_wheel_ships_no_benchmark_and_no_test_code(wheel):
    """A device installs dfd[edge]: benchmarks, their tests and the generators the tests
    share with them (hostile images among them) stay in the checkout."""
    shipped = wheel.namelist()
    assert not [path for path in shipped if {"bench", "benchmarks", "tests", "support"}
                & set(path.split("/")[:-1])], sorted(shipped)
    modules = {path.rsplit("/", 1)[-1] for path in shipped}
    assert not {"hostile.py", "serve_load.py", "fuzz.py", "conftest.py"} & modules
    assert not [path for path in shipped if path.rsplit("/", 1)[-1].startswith("test_")]


def test_console_scripts_name_modules_in_the_wheel(wheel):
    entry_points = configparser.ConfigParser()
    entry_points.read_string(dist_info(wheel, "entry_points.txt"))
    scripts = dict(entry_points["console_scripts"])
    assert scripts["dfd-export"] == "dfd.export.__main__:run"
    shipped = set(wheel.namelist())
    for name, target in scripts.items():
        module = target.split(":")[0].replace(".", "/")
        assert f"{module}.py" in shipped or f"{module}/__init__.py" in shipped, (name, target)


def test_editable_install_maps_the_namespace_onto_the_checkout(tmp_path):
    """`make venv` installs with `pip install -e`: dfd.export must be this repo's export/
    from any working directory, and no top-level `export` or `builders` comes from it."""
    probe = ("import importlib.util as u\n"
             "for name in ('dfd', 'dfd.export', 'dfd.builders', 'export', 'builders'):\n"
             "    spec = u.find_spec(name)\n"
             "    print(name, spec.origin if spec else None)\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    origins = dict(line.split(" ", 1) for line in out.splitlines())
    assert origins["dfd"] == str(ROOT / "dfd" / "__init__.py")
    assert origins["dfd.export"] == str(ROOT / "export" / "__init__.py")
    assert origins["dfd.builders"] == str(ROOT / "builders" / "__init__.py")
    for top in ("export", "builders"):
        assert not origins[top].startswith(str(ROOT)), f"`import {top}` finds {origins[top]}"



def test_builder_metadata_is_read_from_the_builder_folder():
    """TFDS infers the metadata folder from the module path (dfd/builders/...), which an
    editable install does not have; the builder names its folder itself."""
    from dfd.builders.deepfake_real_images import Builder

    metadata = Builder.get_metadata()
    assert metadata.citation == (ROOT / "builders/deepfake_real_images/CITATIONS.bib").read_text()
    assert "ml.task.image-classification" in metadata.tags
