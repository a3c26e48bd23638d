"""grouprules: declarative rule files for MindSpore optimizer parameter groups.

The engine imports no framework, so rule files can be validated without
MindSpore. The MindSpore side lives in :mod:`grouprules.mindspore`.

Example:
    >>> import grouprules
    >>> rules = grouprules.loads_rules('''
    ... schema_version: 1
    ... name: two-layer
    ... num_layers: 1
    ... layer_decay: 0.5
    ... rules:
    ...   - {pattern: 'body\\.', layer: 1}
    ...   - {pattern: 'head\\.', layer: head}
    ... ''')
    >>> plan = grouprules.make_plan(rules, [grouprules.ParamRecord("body.w", (2, 2)),
    ...                                     grouprules.ParamRecord("head.w", (2, 2))])
    >>> [group.name for group in plan.groups]
    ['layer_2_decay', 'layer_1_decay']
"""

from .dump import DumpError, parse_dump, read_dump
from .engine import make_plan
from .errors import (
    ArgumentError,
    CheckpointError,
    EmissionError,
    ExpectationError,
    GroupRulesError,
    NoTrainableParametersError,
    ParameterRecordError,
    Problem,
    RuleEvaluationError,
    RuleFileError,
    UnmatchedParametersError,
)
from .findings import Finding
from .loading import load_rules, loads_rules
from .matching import RuleSet
from .packs import list_packs, rules_path
from .plan import Assignment, Group, Plan, Skipped
from .records import ParamRecord
from .scales import lr_scale

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "CheckpointError",
    "Assignment",
    "DumpError",
    "EmissionError",
    "ExpectationError",
    "Finding",
    "Group",
    "GroupRulesError",
    "NoTrainableParametersError",
    "ParameterRecordError",
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
]
