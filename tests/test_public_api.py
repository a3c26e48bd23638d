"""The public API: a short, pinned ``__all__`` and an engine free of MindSpore."""

import subprocess
import sys
from pathlib import Path

import grouprules

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_ALL = {
    "ArgumentError",
    "CheckpointError",
    "ParameterRecordError",
    "Assignment",
    "DumpError",
    "EmissionError",
    "ExpectationError",
    "Finding",
    "Group",
    "GroupRulesError",
    "NoTrainableParametersError",
    "ParamRecord",
    "Plan",
    "Problem",
    "RuleEvaluationError",
    "RuleFileError",
    "RuleSet",
    "Skipped",
    "UnmatchedParametersError",
    "__version__",
    "list_packs",
    "load_rules",
    "loads_rules",
    "lr_scale",
    "make_plan",
    "parse_dump",
    "read_dump",
    "rules_path",
}


def test_all_is_pinned():
    assert set(grouprules.__all__) == EXPECTED_ALL


def test_every_exported_name_exists():
    for name in grouprules.__all__:
        assert hasattr(grouprules, name), name


def test_errors_share_one_base():
    for name in grouprules.__all__:
        value = getattr(grouprules, name)
        if isinstance(value, type) and name.endswith("Error"):
            assert issubclass(value, grouprules.GroupRulesError), name
    assert issubclass(grouprules.GroupRulesError, ValueError)


def test_engine_imports_without_mindspore():
    # A fresh interpreter in which importing mindspore fails: the engine, the
    # loader and the CLI's rule handling must still import and work.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mindspore' or name.startswith('mindspore.'):\n"
        "            raise ImportError('mindspore is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import grouprules, grouprules.cli\n"
        "rules = grouprules.load_rules('rules/convnext.yaml')\n"
        "plan = grouprules.make_plan(rules, grouprules.read_dump("
        "'examples/convnext_base_params.txt'))\n"
        "assert 'mindspore' not in sys.modules\n"
        "print(len(plan.groups))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "28"


def test_mindspore_adapter_import_error_says_how_to_install():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'mindspore' or name.startswith('mindspore.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import grouprules.mindspore\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 1
    assert "pip install 'grouprules[mindspore]'" in result.stderr
