"""The pack library (collectors/pack_library.py): the built-in packs plus the custom packs in the
packs.paths directories; a pack that does not load is kept as broken with its error, a pack is
found where its name says, names are unique and built-in names are reserved."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.errors import PackError
from collectors.pack import PACK_FILE, builtin_pack, builtin_pack_names
from collectors.pack_library import PackLibrary, runs_on, standard_pack_name

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "packs"
SIMPLE = "name: {name}\nversion: '1'\nplatforms: [linux]\nitems:\n  - id: up\n    command: uptime\n"


def simple(folder: Path, file: str, name: str) -> Path:
    path = folder / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SIMPLE.format(name=name), encoding="utf-8")
    return path


def test_without_paths_only_the_built_in_packs() -> None:
    library = PackLibrary.load()
    assert list(library.packs) == builtin_pack_names()
    assert all(p.builtin for p in library.packs.values())
    assert library.broken == {} and library.custom() == [] and library.paths == ()
    assert library.get("linux-standard") == builtin_pack("linux-standard")


def test_packs_as_files_and_directories(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "linux-service", tmp_path / "linux-service")
    shutil.copytree(EXAMPLES / "huawei-optics", tmp_path / "huawei-optics")
    simple(tmp_path, "uptime.yaml", "uptime")
    simple(tmp_path, "short.yml", "short")
    (tmp_path / "README.md").write_text("not a pack\n", encoding="utf-8")
    (tmp_path / "drafts").mkdir()  # a directory without pack.yaml is not a pack
    (tmp_path / "drafts" / "x.yaml").write_text("not: loaded\n", encoding="utf-8")

    library = PackLibrary.load([tmp_path])
    assert library.broken == {}
    assert sorted(p.name for p in library.custom()) == [
        "huawei-optics", "linux-service", "short", "uptime"]
    assert library.get("linux-service").origin == str(tmp_path / "linux-service" / PACK_FILE)
    assert library.get("uptime").origin == str(tmp_path / "uptime.yaml")
    assert library.get("short").origin == str(tmp_path / "short.yml")
    assert library.known("uptime") and not library.known("drafts")
    assert set(builtin_pack_names()) < set(library.packs)


def test_several_directories(tmp_path: Path) -> None:
    simple(tmp_path / "a", "one.yaml", "one")
    simple(tmp_path / "b", "two.yaml", "two")
    library = PackLibrary.load([tmp_path / "a", tmp_path / "b"])
    assert sorted(p.name for p in library.custom()) == ["one", "two"]


def test_a_pack_must_be_named_after_its_file_or_directory(tmp_path: Path) -> None:
    simple(tmp_path, "web.yaml", "nginx")
    simple(tmp_path, "svc/pack.yaml", "service")
    library = PackLibrary.load([tmp_path])
    assert library.custom() == []
    assert library.broken == {
        "web": (f"{tmp_path / 'web.yaml'}: the pack is named 'nginx' inside; name the file or "
                "directory after it (nginx.yaml or nginx/pack.yaml)"),
        "svc": (f"{tmp_path / 'svc'}: the pack is named 'service' inside; name the file or "
                "directory after it (service.yaml or service/pack.yaml)"),
    }
    with pytest.raises(PackError) as info:
        library.get("nginx")
    assert str(info.value).startswith("no pack named 'nginx'")


def test_a_broken_pack_is_kept_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "name: bad\nversion: '1'\nplatforms: [linux]\nitems:\n  - id: a\n    command: rm -rf /\n",
        encoding="utf-8")
    simple(tmp_path, "good.yaml", "good")
    library = PackLibrary.load([tmp_path])
    error = "pack bad item a: refused 'rm -rf /': 'rm' is not on the read-only allowlist"
    assert library.broken == {"bad": error}
    assert [p.name for p in library.custom()] == ["good"]  # the rest still load
    assert library.known("bad") and "bad" not in library.packs
    with pytest.raises(PackError) as info:
        library.get("bad")
    assert str(info.value) == f"pack 'bad' is not valid: {error}"


def test_two_packs_with_one_name_are_both_refused(tmp_path: Path) -> None:
    simple(tmp_path / "a", "dup.yaml", "dup")
    simple(tmp_path / "b", "dup/pack.yaml", "dup")
    library = PackLibrary.load([tmp_path / "a", tmp_path / "b"])
    assert "dup" not in library.packs
    assert library.broken == {
        "dup": f"two packs named 'dup': {tmp_path / 'a' / 'dup.yaml'} and {tmp_path / 'b' / 'dup'}"}
    # the same within one directory: a file and a directory
    simple(tmp_path / "c", "twin.yaml", "twin")
    simple(tmp_path / "c", "twin/pack.yaml", "twin")
    library = PackLibrary.load([tmp_path / "c"])
    assert "twin" not in library.packs and library.broken["twin"].startswith(
        "two packs named 'twin': ")


def test_a_custom_pack_cannot_take_a_built_in_name(tmp_path: Path) -> None:
    path = simple(tmp_path, "linux-standard.yaml", "linux-standard")
    library = PackLibrary.load([tmp_path])
    assert library.broken == {"linux-standard": (
        f"{path}: a custom pack cannot take the built-in pack's name 'linux-standard'; "
        "rename it")}
    assert library.get("linux-standard") == builtin_pack("linux-standard")  # the built-in stays
    assert library.custom() == []


def test_a_missing_directory_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    library = PackLibrary.load([missing])
    assert library.broken == {f"<{missing}>": (
        f"pack directory {missing} does not exist or is not a directory (packs.paths)")}
    assert list(library.packs) == builtin_pack_names()


def test_an_unknown_pack_names_the_directories_searched(tmp_path: Path) -> None:
    with pytest.raises(PackError) as info:
        PackLibrary.load().get("acme-web")
    assert str(info.value) == ("no pack named 'acme-web' (built-in packs and packs.paths: none "
                               "(set packs.paths))")
    with pytest.raises(PackError) as info:
        PackLibrary.load([tmp_path]).get("acme-web")
    assert str(info.value) == (f"no pack named 'acme-web' (built-in packs and packs.paths: "
                               f"{tmp_path})")


@pytest.mark.parametrize(("platform", "name"), [
    ("linux", "linux-standard"), ("local", "linux-standard"),
    ("huawei_vrp", "huawei_vrp-standard"), ("cisco_ios", "cisco_ios-standard")])
def test_the_standard_pack_of_each_platform(platform: str, name: str) -> None:
    assert standard_pack_name(platform) == name
    assert PackLibrary.load().standard(platform).name == name


def test_a_platform_without_a_standard_pack() -> None:
    with pytest.raises(PackError, match=r"^no pack named 'vyos-standard' "):
        PackLibrary.load().standard("vyos")


def test_which_platforms_a_pack_runs_on() -> None:
    library = PackLibrary.load([EXAMPLES])
    service, optics = library.get("linux-service"), library.get("huawei-optics")
    assert runs_on(service, "linux") and runs_on(service, "local")
    assert not runs_on(service, "huawei_vrp")
    assert runs_on(optics, "huawei_vrp")
    assert not runs_on(optics, "local") and not runs_on(optics, "cisco_ios")
