"""Install the three top-level folders as `closedloop.daemon`, `closedloop.integration` and
`closedloop.mappings`, and ship the commented example config inside `closedloop.daemon`.

The folders are fixed by the design card, but their bare names are generic (python-daemon also
installs `daemon`), so only `closedloop` may reach sys.path. `closedloop` itself is a namespace
package with no folder of its own; everything else is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

FOLDERS = ("daemon", "integration", "mappings")
EXAMPLE_CONFIG = "config.example.toml"


class BuildWithExampleConfig(build_py):
    """`closedloop init` writes the example config: the wheel must carry the repository's copy."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "closedloop" / "daemon" / EXAMPLE_CONFIG
        self.mkpath(str(target.parent))
        self.copy_file(EXAMPLE_CONFIG, str(target))


setup(
    packages=[
        f"closedloop.{name}"
        # Namespace discovery: the data folders (templates, locale) are packages too, so
        # their files are package data, not the "importable but not listed" kind.
        for name in find_namespace_packages(include=[f"{folder}*" for folder in FOLDERS],
                                            exclude=["*__pycache__*"])
    ],
    package_dir={f"closedloop.{folder}": folder for folder in FOLDERS},
    cmdclass={"build_py": BuildWithExampleConfig},
)
