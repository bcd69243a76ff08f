"""Command-line values and YAML files are checked before anything runs, naming what is wrong."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import pytest

from chaos import inputs
from chaos.errors import ConfigError
from chaos.yamlfile import load_file

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "1e9", "ten", ""])
def test_seconds_must_be_finite_and_in_range(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        inputs.seconds(0, 3600)(text)


def test_seconds_in_range_are_read() -> None:
    assert inputs.seconds(0, 10)("0.05") == 0.05


@pytest.mark.parametrize(
    ("check", "text", "message"),
    [
        (inputs.http_url, "notaurl", "not an http:// or https:// URL"),
        (inputs.http_url, "http://h:port", "Port could not be cast"),
        (inputs.mongodb_uri, "redis://h:1", "not a mongodb://"),
        (inputs.mongodb_uri, "mongodb://h:1/?directConnection=maybe", "must be 'true' or 'false'"),
        (inputs.redis_url, "mongodb://h:1", "not a redis://"),
        (inputs.database_name, "", "not a MongoDB database name"),
        (inputs.database_name, "a.b", "not a MongoDB database name"),
        (inputs.writable_dir, "/proc/x", "under a system directory"),
        (inputs.writable_dir, "/sys/kernel/x", "under a system directory"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_the_reason(check: object, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        check(text)  # type: ignore[operator]


def test_a_uri_password_never_appears_in_the_message() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        inputs.mongodb_uri("mongodb://drill:s3cret-pw@h:99999/")
    assert "s3cret-pw" not in str(caught.value)


def test_a_new_backup_directory_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(argparse.ArgumentTypeError, match="not empty"):
        inputs.new_dir(str(tmp_path / "full"))
    assert inputs.new_dir(str(tmp_path / "new" / "deeper")) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not created


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: &x 1\nb: *x\n", "alias \\*x is not allowed"),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' \\(first on line 1\\)"),
        ("a: [1\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_yaml_aliases_duplicates_and_syntax_are_refused_with_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_file(path, "test file")


def test_a_binary_or_huge_yaml_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\n\xff\xfe")
    with pytest.raises(ConfigError, match=r"f.yaml:2: not UTF-8 text"):
        load_file(path, "test file")
    path.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ConfigError, match="larger than"):
        load_file(path, "test file")
