"""The reviewed Great Expectations suites in ``expectations/<category>.json``: load, check, convert.

A suite file is GX 1.x ``ExpectationSuite`` JSON (``name``, ``expectations: [{type, kwargs, meta,
notes}]``, ``meta``, ``notes``) with three house rules, checked here so that a bad edit fails at
load time with a message saying what to change rather than half-way through a run:

* ``meta.version`` is a positive integer, bumped on every change (stored on each validated doc);
* every expectation has a unique ``meta.name`` in lower_snake_case: it names the failure in
  quarantine records, run summaries and the gate message;
* every expectation is row-level (a column map expectation) and has no ``mostly``: the gate
  quarantines documents one by one and applies its own batch threshold.

Settings reach a suite through GX's placeholder syntax, ``{"$PARAMETER": "allowed_languages"}``:
the loader fills each placeholder from :func:`suite_parameters` when it loads the file, so the
Data Docs and the stored results show the real values. An unknown name is an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragdag.errors import PermanentError
from ragdag.models import Category
from ragdag.settings import Settings

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite

PARAMETER_KEY = "$PARAMETER"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SuiteError(PermanentError, ValueError):
    """A suite file that cannot be used as written."""


@dataclass(frozen=True)
class SuiteDefinition:
    """One suite file, parameters filled, house rules checked (GX not imported yet)."""

    name: str
    category: Category
    version: int
    path: Path
    config: dict[str, Any] = field(repr=False)

    @property
    def expectation_names(self) -> list[str]:
        return [exp["meta"]["name"] for exp in self.config["expectations"]]


def suite_parameters(settings: Settings) -> dict[str, Any]:
    """The values a suite may reference with ``{"$PARAMETER": NAME}``."""
    # Compared with the derived language_code column, which holds primary subtags in lower case.
    languages = sorted({lang.split("-")[0].strip().lower() for lang in settings.allowed_languages})
    return {"allowed_languages": languages}


def suite_path(expectations_dir: Path, category: Category) -> Path:
    return expectations_dir / f"{category.value}.json"


# Suites in the same folder that judge a whole batch rather than documents (ragdag.datasets.quality).
BATCH_SUITES = ("instruct_samples",)


def list_suite_files(expectations_dir: Path) -> list[Path]:
    """The document suites: every ``*.json`` of the folder but the :data:`BATCH_SUITES`."""
    return sorted(p for p in expectations_dir.glob("*.json") if p.stem not in BATCH_SUITES)


def _fill_parameters(value: Any, parameters: dict[str, Any], where: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {PARAMETER_KEY}:
            name = value[PARAMETER_KEY]
            if name not in parameters:
                raise SuiteError(
                    f"{where}: unknown parameter {name!r}; use one of {sorted(parameters)} "
                    "or add it to ragdag.validation.suites.suite_parameters"
                )
            return parameters[name]
        return {k: _fill_parameters(v, parameters, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_parameters(v, parameters, where) for v in value]
    return value


def _check_expectations(path: Path, expectations: Any, *, row_level: bool = True) -> None:
    if not isinstance(expectations, list) or not expectations:
        raise SuiteError(f"{path}: `expectations` must be a non-empty list")
    seen: set[str] = set()
    for position, exp in enumerate(expectations):
        where = f"{path}: expectation #{position}"
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise SuiteError(f"{where}: needs a `type` such as expect_column_values_to_not_be_null")
        name = (exp.get("meta") or {}).get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise SuiteError(f"{where} ({exp['type']}): add meta.name in lower_snake_case")
        if name in seen:
            raise SuiteError(f"{where}: meta.name {name!r} is used twice; names must be unique")
        seen.add(name)
        if not row_level:
            continue
        kwargs = exp.get("kwargs")
        if not isinstance(kwargs, dict) or "column" not in kwargs:
            raise SuiteError(f"{where} ({name}): only column expectations are supported; set kwargs.column")
        if "mostly" in kwargs:
            raise SuiteError(
                f"{where} ({name}): remove `mostly`: failing documents are quarantined one by one "
                "and the batch threshold is RAGDAG_VALIDATION_MAX_FAILED_SHARE"
            )


def _read_suite(path: Path, missing: str) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"{path} {missing}") from None
    except json.JSONDecodeError as error:
        raise SuiteError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: the top level must be an object with name, meta, expectations")
    return raw


def _checked(
    path: Path, raw: dict[str, Any], parameters: dict[str, Any], *, row_level: bool
) -> tuple[dict[str, Any], int]:
    """The house rules every suite keeps (a version; the expectations allowed), placeholders filled."""
    version = (raw.get("meta") or {}).get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SuiteError(f"{path}: set meta.version to a positive integer (bump it on every change)")
    _check_expectations(path, raw.get("expectations"), row_level=row_level)
    return _fill_parameters(raw, parameters, str(path)), version


def load_suite_config(path: Path, parameters: dict[str, Any], *, row_level: bool = True) -> tuple[dict[str, Any], int]:
    """Read any suite file, check the house rules, fill its placeholders; return (config, version).

    ``row_level=False`` is for suites that judge a whole batch (the instruct samples' suite, whose
    failing expectation fails the version): any expectation type, ``mostly`` allowed.
    """
    return _checked(path, _read_suite(path, "is missing"), parameters, row_level=row_level)


def load_suite_definition(path: Path, parameters: dict[str, Any]) -> SuiteDefinition:
    """Read one category's suite file (named after the category), check the house rules and fill
    its ``$PARAMETER`` placeholders."""
    raw = _read_suite(path, "is missing: every category needs a suite file")
    try:
        category = Category(raw.get("name"))
    except ValueError:
        raise SuiteError(
            f"{path}: `name` must be one of {[c.value for c in Category]}, got {raw.get('name')!r}"
        ) from None
    if path.stem != category.value:
        raise SuiteError(f"{path}: a suite named {category.value!r} belongs in {category.value}.json")
    config, version = _checked(path, raw, parameters, row_level=True)
    return SuiteDefinition(name=category.value, category=category, version=version, path=path, config=config)


def load_suites(settings: Settings) -> dict[Category, SuiteDefinition]:
    """The suite of every category, from ``settings.expectations_dir``."""
    parameters = suite_parameters(settings)
    return {
        category: load_suite_definition(suite_path(settings.expectations_dir, category), parameters)
        for category in Category
    }


def build_gx_suite(definition: SuiteDefinition) -> ExpectationSuite:
    """The GX object for a loaded suite; rejects expectations that are not row-level."""
    import great_expectations as gx
    from great_expectations.exceptions import InvalidExpectationConfigurationError
    from great_expectations.expectations.expectation import ColumnMapExpectation

    try:
        suite = gx.ExpectationSuite(
            name=definition.name,
            expectations=definition.config["expectations"],
            meta=definition.config.get("meta"),
            notes=definition.config.get("notes"),
        )
    except (InvalidExpectationConfigurationError, ValueError, TypeError) as error:
        raise SuiteError(f"{definition.path}: GX rejects the suite: {error}") from error
    for expectation in suite.expectations:
        if not isinstance(expectation, ColumnMapExpectation):
            name = (expectation.meta or {}).get("name")
            raise SuiteError(
                f"{definition.path}: {name} ({expectation.expectation_type}) is not a column map "
                "expectation; only row-level expectations can say which document failed"
            )
    return suite
