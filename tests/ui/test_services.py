"""The page's errors by type, not by message text (issue 22; issue 25 items 4 and 8): a store held
busy by another process is Unavailable (503), a value that cannot be a version is BadRequest
(400), and a dataset that does not exist, "latest" included, is NotFound (404)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from held_process import hold_qdrant_folder

from ragdag.ui import services


def test_a_search_while_another_process_holds_qdrant_is_unavailable(settings, tmp_path) -> None:
    """The tasks wait RAGDAG_QDRANT_LOCK_WAIT_S for the folder (here 600 s); the page answers at
    once that the store is busy (the thread's join is a hang guard, not a speed claim)."""
    patient = settings.model_copy(update={"qdrant_lock_wait_s": 600.0})
    holder = hold_qdrant_folder(settings.qdrant_path, tmp_path / "held")
    outcome: list[BaseException | object] = []

    def search() -> None:
        try:
            outcome.append(services.search(patient, "airflow", k=3))
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    try:
        thread = threading.Thread(target=search, daemon=True)
        thread.start()
        thread.join(timeout=400)
        assert outcome, "the search waited for the lock as long as a task does"
        (error,) = outcome
        assert isinstance(error, services.Unavailable) and "busy" in str(error)
    finally:
        holder.kill()
        holder.wait(timeout=30)


@pytest.mark.parametrize(("a", "b"), [("../../../../etc", "v-1"), ("v-1", "a/b"), ("", "v-1"), (".hidden", "v-1")])
def test_a_value_that_cannot_be_a_version_is_a_bad_request(settings, a, b) -> None:
    with pytest.raises(services.BadRequest, match="is not a dataset version name"):
        services.dataset_diff(settings, a, b)
    with pytest.raises(services.BadRequest):
        services.dataset(settings, a if a != "v-1" else b)


def test_latest_without_any_dataset_is_not_found(settings) -> None:
    with pytest.raises(services.NotFound, match="no instruct dataset published yet"):
        services.dataset(settings, "latest")
    with pytest.raises(services.NotFound, match="no dataset version 'v-0'"):
        services.dataset(settings, "v-0")


def test_an_unknown_quarantine_id_is_not_found_and_a_bad_release_a_conflict(settings, mongo_db) -> None:
    with pytest.raises(services.NotFound, match="no quarantine record 'nope'"):
        services.release(settings, "nope", "airflow:tester", "checked by hand")
    with pytest.raises(services.Conflict, match="say why"):
        services.release(settings, "nope", "airflow:tester", "")


def test_the_public_static_folder_holds_only_the_pages_own_assets() -> None:
    """Decision (issue 25, item 8): /ragdag/static/ stays public; it must hold nothing but the
    page's stylesheet and script (no data, no template)."""
    static = Path(services.__file__).with_name("static")
    assert sorted(p.name for p in static.rglob("*") if p.is_file()) == ["actions.js", "page.css"]
