"""The settings sweep (slamming/workflow/slices.py): which settings it changes and how. Its dry-runs are
tested in test_workflow.py, on the finished tiny demo."""
import copy

from conftest import REPO

from slamming.workflow.config import load_runs, load_yaml
from slamming.workflow.slices import changed_value, setting_changes


def test_a_changed_value_is_of_the_same_kind_and_plausible():
    assert changed_value(True) is False and changed_value(0) == 1 and changed_value(8) == 16
    assert changed_value(0.9) == 0.95 and changed_value(0.0) == 0.1 and changed_value(3.0) == 4.5
    assert changed_value("adamw") is None and changed_value(None) is None and changed_value([1]) is None


def test_every_number_and_switch_of_a_run_and_of_the_configuration_is_changed():
    config = load_yaml(REPO / "config" / "config.yaml")
    run = load_runs(copy.deepcopy(config), REPO)["demo"]["run"]
    changes = {change.key: change for change in setting_changes(config, run)}
    assert changes["run.pretrain.learning_rate"].override == {"pretrain": {"learning_rate": changes[
        "run.pretrain.learning_rate"].new}}
    assert changes["audio_checks.synthesise.reject_silent"].override == {"audio_checks": {"synthesise": {"reject_silent": True}}}
    assert "run.generation.temperature" in changes and "tokenisers.demo_mfcc_km100.batch_seconds" in changes
    assert not any(key.startswith(("sources.", "run_defaults.", "default_runs")) for key in changes)
    assert "run.pretrain.optimizer" not in changes  # a name, not a number: left to the tests that choose one
