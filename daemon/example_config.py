"""The commented example config that `closedloop init` writes.

The wheel carries it inside `closedloop.daemon` (setup.py copies the repository's
config.example.toml there at build time); a source checkout has it only at the repository's
root, so that is the fallback. One file, two places, never two copies to keep in step.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from closedloop.integration.errors import ClosedLoopError, ConfigError

FILENAME = "config.example.toml"
_REPOSITORY_COPY = Path(__file__).resolve().parent.parent / FILENAME


def example_config_text() -> str:
    """The example config: the packaged copy, else the source tree's."""
    packaged = files("closedloop.daemon").joinpath(FILENAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    if _REPOSITORY_COPY.is_file():
        return _REPOSITORY_COPY.read_text(encoding="utf-8")
    raise ClosedLoopError(f"{FILENAME} is missing from this installation (reinstall closedloop)")


def write_example_config(path: Path, *, force: bool = False) -> Path:
    """Write the example to `path` (a folder gets `config.toml` in it); returns the file.

    An existing file is kept unless `force`: it is most likely someone's edited config.
    """
    target = path / "config.toml" if path.is_dir() else path
    text = example_config_text()
    if target.exists() and not force:
        raise ConfigError([f"{target}: already exists; pass --force to overwrite it"])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{target}: cannot write: {exc.strerror}"]) from None
    return target
