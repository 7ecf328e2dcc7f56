"""CustomResourceDefinitions generated from the pydantic models, so schema and code never drift.

Pydantic's JSON Schema is turned into a *structural* OpenAPI v3 schema (references inlined,
``nullable`` unions folded, no ``additionalProperties: false``), then the cross-field rules the
models check in Python are added as CEL ``x-kubernetes-validations`` so ``kubectl apply``
rejects the same mistakes with the same words. Only the trial template's JobSpec keeps unknown
fields: it is Kubernetes' own type, validated when the Job is created.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel

from kubetune.api.attributes import MAX_ATTRIBUTES
from kubetune.api.capabilities import Capabilities
from kubetune.api.study import (
    DEFAULT_ALGORITHM,
    GROUP,
    MAX_CHOICES,
    MAX_INITIAL_TRIALS,
    MAX_PARAMETERS,
    NO_RULE,
    VERSION,
    StudySpec,
    StudyStatus,
)
from kubetune.api.trial import MAX_TRIAL_METRICS, TrialSpec, TrialStatus

Schema = dict[str, Any]

# Rules on one parameter (``self`` is a parameters[] item). Parameter *values* (choices,
# ``when`` lists, initialTrials) may be numbers, strings or booleans; a structural schema
# cannot type such a union, so CEL cannot see them. Those checks (distinct choices, ``when``
# naming a categorical parameter's choices, initialTrials inside the space) run in the
# operator, which reports them in an InvalidSpec condition, and in `kubetune validate`.
_PARAMETER_RULES = [
    (
        "self.type == 'categorical' ? (!has(self.low) && !has(self.high) && !has(self.step)"
        " && !has(self.log)) : (has(self.low) && has(self.high))",
        "a float or int parameter needs low and high; a categorical one takes only choices",
    ),
    (
        "!has(self.low) || !has(self.high) || self.low < self.high",
        "low must be less than high",
    ),
    ("!has(self.step) || self.step > 0.0", "step must be greater than 0"),
    (
        "!has(self.step) || !has(self.low) || !has(self.high) || self.step <= self.high - self.low",
        "step must fit in the range: step <= high - low",
    ),
    (
        "!has(self.log) || !self.log || (has(self.low) && self.low > 0.0)",
        "log: true needs low > 0; raise low or drop log",
    ),
    (
        "self.type != 'int' || ((!has(self.low) || self.low == double(int(self.low)))"
        " && (!has(self.high) || self.high == double(int(self.high))))",
        "low and high of an int parameter must be whole numbers",
    ),
]

# Rules on the whole spec.
_SPEC_RULES = [
    (
        "has(self.objective) != has(self.objectives)",
        "give exactly one of objective (one metric) or objectives (a list)",
    ),
    (
        "self.parameters.all(p, self.parameters.exists_one(q, q.name == p.name))",
        "parameter names must be unique",
    ),
    (
        "!has(self.constraints) || "
        "self.constraints.all(c, self.constraints.exists_one(d, d.metric == c.metric))",
        "constraint metrics must be distinct",
    ),
    (
        "!has(self.constraints) || self.constraints.all(c, "
        "(has(self.metrics) && c.metric in self.metrics) || "
        "(has(self.objective) && self.objective.metric == c.metric) || "
        "(has(self.objectives) && self.objectives.exists(o, o.metric == c.metric)))",
        "each constraint metric must be an objective or listed in spec.metrics; "
        "add it to spec.metrics",
    ),
    (
        "!has(self.referencePoint) || "
        "(has(self.objectives) && size(self.referencePoint) == size(self.objectives))",
        "referencePoint needs one value per objective of spec.objectives",
    ),
]

_CONSTRAINT_RULES = [
    ("has(self.max) != has(self.min)", "give exactly one of max or min for each constraint"),
]

_WARM_START_RULES = [
    (
        "(has(self.studies) && size(self.studies) > 0) || has(self.file) || has(self.configMap)",
        "warmStart needs studies, a file or a configMap",
    ),
    (
        "!has(self.studies) || self.studies.all(s, self.studies.exists_one(t, t == s))",
        "warmStart.studies must be distinct",
    ),
]

_CHECKPOINT_RULES = [
    (
        "has(self.persistentVolumeClaim) != has(self.uri)",
        "give exactly one of persistentVolumeClaim (a claim mounted into every trial) or uri "
        "(a prefix handed to the trial's code)",
    ),
    (
        "!has(self.mountPath) || has(self.persistentVolumeClaim)",
        "mountPath is only for persistentVolumeClaim; drop it with uri",
    ),
]

_CONFIG_MAP_RULES = [
    (
        "self.key.lowerAscii().endsWith('.csv') || self.key.lowerAscii().endsWith('.json')",
        "warmStart.configMap.key must end in .csv or .json, the format of the results it holds",
    ),
]

_BUDGET_RULES = [
    (
        "!has(self.parallelTrials) || !has(self.maxTrials)"
        " || self.parallelTrials <= self.maxTrials",
        "parallelTrials must not exceed maxTrials",
    ),
]


# The names a spec resolves to when it leaves the algorithm or the rule out (the models'
# defaults; a structural schema's defaults would be written into every stored object).
_ALGORITHM = (
    f"((has(self.algorithm) && has(self.algorithm.name)) ? self.algorithm.name "
    f": '{DEFAULT_ALGORITHM}')"
)
_RULE = (
    f"((has(self.earlyStopping) && has(self.earlyStopping.rule)) ? self.earlyStopping.rule "
    f": '{NO_RULE}')"
)
_SEVERAL_OBJECTIVES = "has(self.objectives) && size(self.objectives) > 1"


def _one_of(expression: str, names: list[str]) -> str:
    return f"{expression} in [{', '.join(repr(name) for name in names)}]"


def _capability_rules(
    algorithms: Mapping[str, Capabilities], rules: Mapping[str, Capabilities]
) -> list[dict[str, str]]:
    """Rules that refuse, at apply time, what the chosen algorithm or rule declares it cannot
    do (see ``kubetune.validation.capability_errors``, whose words they repeat): several
    objectives, constraints, a missing training resource. Each names the field it is about
    and lists the choices that can. (Not the number of objectives: ``string(size(...))`` of
    a list without maxItems costs more than the API server's CEL budget allows.)"""

    def able(registry: Mapping[str, Capabilities], flag: str, want: bool = True) -> list[str]:
        return [name for name, caps in registry.items() if getattr(caps, flag) is want]

    several = able(algorithms, "several_objectives")
    constrained = able(algorithms, "constraints")
    resource = able(algorithms, "needs_resource")
    judging = able(rules, "several_objectives")
    return [
        {
            "rule": f"!({_SEVERAL_OBJECTIVES}) || {_one_of(_ALGORITHM, several)}",
            "fieldPath": ".algorithm.name",
            "message": "the algorithm optimizes one objective and spec.objectives has several; "
            f"choose one that handles several: {', '.join(several)}",
            "messageExpression": f"{_ALGORITHM} + ' optimizes one objective, this study has "
            f"several; choose one that handles several: {', '.join(several)}'",
        },
        {
            "rule": f"!has(self.constraints) || size(self.constraints) == 0 "
            f"|| {_one_of(_ALGORITHM, constrained)}",
            "fieldPath": ".algorithm.name",
            "message": "the algorithm does not honour spec.constraints; choose one that does: "
            + ", ".join(constrained),
            "messageExpression": f"{_ALGORITHM} + ' does not honour spec.constraints; choose "
            f"one that does: {', '.join(constrained)}'",
        },
        {
            "rule": f"!({_one_of(_ALGORITHM, resource)}) "
            "|| (has(self.budget) && has(self.budget.resource))",
            "fieldPath": ".budget.resource",
            "message": "the algorithm hands out a training resource: set spec.budget.resource "
            "{name, min, max} and pass ${budget} to the trial; algorithms that need none: "
            + ", ".join(able(algorithms, "needs_resource", want=False)),
            "messageExpression": f"{_ALGORITHM} + ' hands out a training resource: set "
            "spec.budget.resource {name, min, max} and pass ${budget} to the trial; "
            f"algorithms that need none: {', '.join(able(algorithms, 'needs_resource', False))}'",
        },
        {
            "rule": f"!({_SEVERAL_OBJECTIVES}) || {_one_of(_RULE, [NO_RULE, *judging])}",
            "fieldPath": ".earlyStopping.rule",
            "message": "the rule judges one objective and spec.objectives has several; choose "
            f"one that handles several: {', '.join(judging) or NO_RULE}",
            "messageExpression": f"{_RULE} + ' judges one objective, this study has several; "
            f"choose one that handles several: {', '.join(judging) or NO_RULE}'",
        },
    ]


def structural(model: type[BaseModel]) -> Schema:
    """The model's JSON Schema as a structural OpenAPI v3 schema."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _convert(raw, definitions)


def _convert(node: Schema, definitions: Mapping[str, Schema]) -> Schema:
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    if "anyOf" in node:
        return _convert_union(node, definitions)
    result: Schema = {}
    if "description" in node:
        result["description"] = node["description"]
    kind = node.get("type")
    if "const" in node:
        return {"type": "string", "enum": [node["const"]]}
    if "enum" in node:
        result.update(type="string", enum=list(node["enum"]))
        return result
    if kind == "object" or "properties" in node:
        result["type"] = "object"
        if "properties" in node:
            result["properties"] = {
                name: _convert(child, definitions) for name, child in node["properties"].items()
            }
            if node.get("required"):
                result["required"] = list(node["required"])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in node:
            if extra:
                result["additionalProperties"] = _convert(extra, definitions)
            else:
                result["x-kubernetes-preserve-unknown-fields"] = True
        elif "properties" not in node and extra is not False:
            result["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        result.update(type="array", items=_convert(node.get("items", {}), definitions))
    elif kind == "string" and node.get("format") == "date-time":
        result.update(type="string", format="date-time")
    elif kind in ("string", "integer", "number", "boolean"):
        result["type"] = kind
    elif not kind:
        result["x-kubernetes-preserve-unknown-fields"] = True
    for key in ("minLength", "maxLength", "pattern", "minItems", "maxItems", "minimum", "maximum"):
        if key in node:
            result[key] = node[key]
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if key in node:
            result[bound] = node[key]
            result[key] = True
    return result


def _convert_union(node: Schema, definitions: Mapping[str, Schema]) -> Schema:
    options = [o for o in node["anyOf"] if o.get("type") != "null"]
    nullable = len(options) != len(node["anyOf"])
    description = {"description": node["description"]} if "description" in node else {}
    kinds = {o.get("type") for o in options}
    if len(options) == 1:
        converted = _convert({**options[0], **description}, definitions)
    elif kinds <= {"integer", "number"}:
        converted = {**description, "type": "number"}
    else:
        # A parameter value: number, string or boolean. CEL rules check it against the space.
        converted = {**description, "x-kubernetes-preserve-unknown-fields": True}
    if nullable:
        converted["nullable"] = True
    return converted


def _rules(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"rule": rule, "message": message} for rule, message in pairs]


def _merged_settings(models: Mapping[str, type[BaseModel]], path: str) -> Schema:
    """One object schema with every algorithm's settings; CEL keeps each to its own keys."""
    properties: Schema = {}
    for name, model in sorted(models.items()):
        for key, schema in structural(model).get("properties", {}).items():
            if key in properties and _without_docs(properties[key]) != _without_docs(schema):
                raise ValueError(
                    f"setting {key!r} of {name} has another type in another {path}; "
                    "rename one of them so the CRD can type both"
                )
            properties.setdefault(key, schema)
    return {
        "type": "object",
        "description": f"Settings of the chosen {path}; see docs/algorithms.md.",
        "properties": properties,
    }


def _without_docs(schema: Schema) -> Schema:
    return {k: v for k, v in schema.items() if k not in ("description", "minimum", "maximum")}


def _settings_rules(field: str, models: Mapping[str, type[BaseModel]]) -> list[dict[str, str]]:
    """Per choice, a rule that rejects the settings that belong only to other choices."""
    keys = {name: set(structural(model).get("properties", {})) for name, model in models.items()}
    everything = set().union(*keys.values())
    rules = []
    for name in sorted(models):
        foreign = sorted(everything - keys[name])
        if not foreign:
            continue
        absent = " && ".join(f"!has(self.settings.{key})" for key in foreign)
        rules.append(
            {
                "rule": f"self.{field} != '{name}' || !has(self.settings) || ({absent})",
                "message": f"{name} takes only these settings: "
                f"{', '.join(sorted(keys[name])) or 'none'}",
            }
        )
    return rules


def study_schema(
    algorithm_settings: Mapping[str, type[BaseModel]],
    rule_settings: Mapping[str, type[BaseModel]],
    algorithm_capabilities: Mapping[str, Capabilities],
    rule_capabilities: Mapping[str, Capabilities],
) -> Schema:
    """The TuningStudy schema; the keys of the settings mappings are the only names
    ``spec.algorithm.name`` and ``spec.earlyStopping.rule`` (besides ``none``) accept, and
    the capabilities say which of them a study's objectives, constraints and budget allow."""
    spec = structural(StudySpec)
    props = spec["properties"]
    parameter = props["parameters"]["items"]
    parameter["x-kubernetes-validations"] = _rules(_PARAMETER_RULES)
    parameter["properties"]["choices"].update(minItems=1, maxItems=MAX_CHOICES)
    props["parameters"]["maxItems"] = MAX_PARAMETERS
    props["initialTrials"]["maxItems"] = MAX_INITIAL_TRIALS
    props["initialTrials"]["items"]["maxProperties"] = MAX_PARAMETERS
    parameter["properties"]["when"]["maxProperties"] = MAX_PARAMETERS
    parameter["properties"]["when"]["additionalProperties"]["maxItems"] = MAX_CHOICES
    props["budget"]["x-kubernetes-validations"] = _rules(_BUDGET_RULES)
    props["constraints"]["items"]["x-kubernetes-validations"] = _rules(_CONSTRAINT_RULES)
    props["warmStart"]["x-kubernetes-validations"] = _rules(_WARM_START_RULES)
    config_map = props["warmStart"]["properties"]["configMap"]
    config_map["x-kubernetes-validations"] = _rules(_CONFIG_MAP_RULES)
    algorithm = props["algorithm"]
    # The names come from the registries (api cannot import them): see AlgorithmSpec.
    algorithm["properties"]["name"]["enum"] = list(algorithm_settings)
    algorithm["properties"]["settings"] = _merged_settings(algorithm_settings, "algorithm")
    algorithm["x-kubernetes-validations"] = _settings_rules("name", algorithm_settings)
    early = props["earlyStopping"]
    early["properties"]["rule"]["enum"] = [NO_RULE, *rule_settings]
    early["properties"]["settings"] = _merged_settings(rule_settings, "stopping rule")
    early["x-kubernetes-validations"] = _settings_rules("rule", rule_settings)
    template = props["trialTemplate"]["properties"]
    template["checkpoints"]["x-kubernetes-validations"] = _rules(_CHECKPOINT_RULES)
    template["job"] = {
        "type": "object",
        "description": template["job"].get("description", ""),
        "x-kubernetes-preserve-unknown-fields": True,
        "x-kubernetes-embedded-resource": False,
    }
    spec["x-kubernetes-validations"] = _rules(_SPEC_RULES) + _capability_rules(
        algorithm_capabilities, rule_capabilities
    )
    return _root(spec, structural(StudyStatus))


def trial_schema() -> Schema:
    spec = structural(TrialSpec)
    spec["properties"]["parameters"]["maxProperties"] = MAX_PARAMETERS
    # Attribute values, like parameter values, are a union a structural schema cannot type,
    # and CEL cannot see into such a map; the engine checks keys and values (api.attributes).
    spec["properties"]["attributes"]["maxProperties"] = MAX_ATTRIBUTES
    return _root(spec, _bounded_trial_status(structural(TrialStatus)))


def _bounded_trial_status(status: Schema) -> Schema:
    """The runner keeps each map of metrics within ``MAX_TRIAL_METRICS`` names; the schema
    says so too, so no writer can grow a Trial past its documented size."""
    props = status["properties"]
    props["values"]["maxProperties"] = MAX_TRIAL_METRICS
    props["nonFiniteValues"]["maxProperties"] = MAX_TRIAL_METRICS
    props["intermediate"]["items"]["properties"]["values"]["maxProperties"] = MAX_TRIAL_METRICS
    return status


def _root(spec: Schema, status: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def _crd(
    plural: str,
    kind: str,
    short: list[str],
    schema: Schema,
    columns: list[tuple[str, str, str]],
    name_length: int,
) -> Schema:
    schema = copy.deepcopy(schema)
    schema["properties"]["metadata"] = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": name_length}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "listKind": f"{kind}List",
                "shortNames": short,
                "categories": ["kubetune"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": name, "type": type_, "jsonPath": path}
                        for name, type_, path in columns
                    ],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def crds(
    algorithm_settings: Mapping[str, type[BaseModel]],
    rule_settings: Mapping[str, type[BaseModel]],
    algorithm_capabilities: Mapping[str, Capabilities],
    rule_capabilities: Mapping[str, Capabilities],
) -> dict[str, Schema]:
    """File name → CRD document, for the algorithms and rules of the registries (api sits
    below them): their settings models and their declared capabilities, by name."""
    age = ("Age", "date", ".metadata.creationTimestamp")
    studies = _crd(
        "tuningstudies",
        "TuningStudy",
        ["study", "studies"],
        study_schema(algorithm_settings, rule_settings, algorithm_capabilities, rule_capabilities),
        [
            ("Algorithm", "string", ".spec.algorithm.name"),
            ("Done", "string", ".status.progress"),
            ("Running", "integer", ".status.trials.running"),
            ("Best", "number", ".status.bestValue"),
            # Set only for several objectives, where there is no single best value.
            ("Front", "integer", ".status.paretoFrontSize"),
            ("Status", "string", ".status.phase"),
            age,
        ],
        name_length=52,
    )
    trials = _crd(
        "trials",
        "Trial",
        ["trial"],
        trial_schema(),
        [
            ("Study", "string", ".spec.study"),
            ("Parameters", "string", ".spec.parameters"),
            ("Value", "number", ".status.value"),
            ("Phase", "string", ".status.phase"),
            age,
        ],
        name_length=63,
    )
    return {"tuningstudies.yaml": studies, "trials.yaml": trials}


def render(document: Schema) -> str:
    header = "# Generated by `kubetune crds` from kubetune.api; do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=100)
