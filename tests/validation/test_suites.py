"""The reviewed suite files load into GX and keep the house rules; the loader says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragdag.models import Category
from ragdag.settings import PROJECT_ROOT, Settings
from ragdag.validation.suites import (
    SuiteError,
    build_gx_suite,
    list_suite_files,
    load_suite_definition,
    load_suites,
    suite_parameters,
)

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


def _settings(**overrides) -> Settings:
    return Settings(expectations_dir=EXPECTATIONS_DIR, **overrides)


def test_there_is_one_suite_file_per_category() -> None:
    assert [p.stem for p in list_suite_files(EXPECTATIONS_DIR)] == sorted(c.value for c in Category)


@pytest.mark.parametrize("path", list_suite_files(EXPECTATIONS_DIR), ids=lambda p: p.name)
def test_every_suite_file_loads_into_gx(path: Path) -> None:
    definition = load_suite_definition(path, suite_parameters(_settings()))
    suite = build_gx_suite(definition)
    assert suite.name == path.stem
    assert len(suite.expectations) >= 20
    assert definition.version >= 1
    names = [e.meta["name"] for e in suite.expectations]
    # The checks the stage promises, whatever else a suite adds.
    for required in (
        "url_present",
        "url_is_text",
        "url_well_formed",
        "url_unique",
        "content_is_text",
        "content_length_in_bounds",
        "language_allowed",
        "crawled_not_in_future",
        "content_not_boilerplate",
        "content_not_duplicate",
        "crawled_at_is_datetime",
    ):
        assert required in names, f"{path.name} lost {required}"


def test_articles_require_a_title() -> None:
    names = load_suites(_settings())[Category.ARTICLES].expectation_names
    assert {"title_present", "title_not_blank"} <= set(names)


def test_allowed_languages_come_from_settings_at_load_time() -> None:
    suites = load_suites(_settings(allowed_languages=["en", "de-DE", "FR"]))
    for definition in suites.values():
        (language,) = [e for e in definition.config["expectations"] if e["meta"]["name"] == "language_allowed"]
        assert language["kwargs"]["value_set"] == ["de", "en", "fr"]
        assert language["kwargs"]["column"] == "language_code"


def _write(tmp_path: Path, expectations: list[dict], **meta) -> Path:
    path = tmp_path / "articles.json"
    path.write_text(json.dumps({"name": "articles", "meta": {"version": 1, **meta}, "expectations": expectations}))
    return path


def _expectation(name: str = "url_present", **kwargs) -> dict:
    return {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "url", **kwargs},
        "meta": {"name": name},
    }


@pytest.mark.parametrize(
    ("expectations", "meta", "message"),
    [
        ([_expectation()], {"version": 0}, "meta.version"),
        ([{**_expectation(), "meta": {}}], {}, "meta.name"),
        ([_expectation(), _expectation()], {}, "used twice"),
        ([_expectation(mostly=0.9)], {}, "remove `mostly`"),
        (
            [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "meta": {"name": "lang"},
                    "kwargs": {"column": "language_code", "value_set": {"$PARAMETER": "languages"}},
                }
            ],
            {},
            "unknown parameter 'languages'",
        ),
    ],
)
def test_bad_suite_files_are_refused_with_what_to_change(tmp_path, expectations, meta, message) -> None:
    with pytest.raises(SuiteError, match=message):
        load_suite_definition(_write(tmp_path, expectations, **meta), suite_parameters(_settings()))


def test_expectations_that_cannot_name_documents_are_refused(tmp_path) -> None:
    aggregate = {
        "type": "expect_column_mean_to_be_between",
        "meta": {"name": "mean_length"},
        "kwargs": {"column": "content_length", "min_value": 1},
    }
    definition = load_suite_definition(_write(tmp_path, [aggregate]), suite_parameters(_settings()))
    with pytest.raises(SuiteError, match="not a column map expectation"):
        build_gx_suite(definition)


def test_a_missing_suite_file_is_named(tmp_path) -> None:
    with pytest.raises(SuiteError, match="articles.json is missing"):
        load_suites(Settings(expectations_dir=tmp_path))
