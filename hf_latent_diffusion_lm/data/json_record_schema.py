"""What nested JSON records (objects, arrays, free text, numbers) may hold: a JSON Schema, stored with the model.

The counterpart of :class:`.table_schema.TableSchema` for records that are not flat rows (tool calls, API payloads),
behind the same interface the pipeline, training and the CLI use: ``infer``, ``to_text``/``parse``, ``validate``,
``grammar`` (constrained decoding), ``to_dict``/``from_dict``. The schema is inferred with genson (the maintained
JSON-Schema generator), extended with what generation needs to stay inside the data: enums for low-cardinality
strings, the longest string, integer and number ranges, array lengths and required keys; or it is the user's own
JSON Schema. Records are validated with ``jsonschema`` and decoded under xgrammar's JSON-Schema grammar.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import jsonschema
from genson import SchemaBuilder
from genson.schema.strategies import List, Number, Object, String

from .json_lines import read_json_records
from .range_grammar import integer_range
from .record_format import RecordParseError

KIND = "json"
DEFAULT_MAX_ENUM = 20
DEFAULT_MAX_PROPERTIES = 40
SEPARATORS = (",", ":")
_XGRAMMAR_BOUNDED_CHAR = r'[^\"\\\r\n]'  # one character of a string with maxLength, as xgrammar prints it
_JSON_BOUNDED_CHAR = r'[^\"\\\0-\x1f\ud800-\udfff]'
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # the numbers xgrammar's JSON-Schema converter keeps exact
_SUBSCHEMAS = {"items", "prefixItems", "additionalItems", "additionalProperties", "contains", "propertyNames", "not",
               "anyOf", "oneOf", "allOf", "if", "then", "else"}  # keywords whose value is a schema or a list of them
_SCHEMA_MAPS = {"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"}  # name -> schema


class _EnumOrBoundedString(String):
    """Strings: an ``enum`` when few distinct values each recur, else a ``maxLength`` (the longest seen)."""

    max_enum = DEFAULT_MAX_ENUM

    def __init__(self, node_class):
        super().__init__(node_class)
        self._values: Counter | None = Counter()
        self._count, self._max_length = 0, 0

    def add_object(self, obj):
        super().add_object(obj)
        self._count += 1
        self._max_length = max(self._max_length, len(obj))
        if self._values is not None:
            self._values[obj] += 1
            if len(self._values) > self.max_enum:
                self._values = None

    def to_schema(self):
        schema = super().to_schema()
        if self._values and self._count >= 2 * len(self._values):
            schema["enum"] = sorted(self._values)
        elif self._count:
            schema["maxLength"] = self._max_length
        return schema


class _RangedNumber(Number):
    """Integers and numbers with the ``minimum``/``maximum`` seen."""

    def __init__(self, node_class):
        super().__init__(node_class)
        self._low = self._high = None

    def add_object(self, obj):
        super().add_object(obj)
        self._low = obj if self._low is None else min(self._low, obj)
        self._high = obj if self._high is None else max(self._high, obj)

    def to_schema(self):
        schema = super().to_schema()
        if self._low is not None:
            schema["minimum"], schema["maximum"] = self._low, self._high
        return schema


class _SizedList(List):
    """Arrays with the fewest and most items seen."""

    def __init__(self, node_class):
        super().__init__(node_class)
        self._sizes: list[int] = []

    def add_object(self, obj):
        super().add_object(obj)
        self._sizes.append(len(obj))

    def to_schema(self):
        schema = super().to_schema()
        if self._sizes:
            schema["minItems"], schema["maxItems"] = min(self._sizes), max(self._sizes)
        return schema


class _ClosedObjectOrMap(Object):
    """Objects with fixed keys are closed (``additionalProperties: false``, keys in first-seen order); objects whose
    keys vary widely (more than ``max_properties`` distinct, e.g. a function's parameters by name) are maps:
    ``additionalProperties`` is the schema of all their values, with bounded key length and count."""

    max_properties = DEFAULT_MAX_PROPERTIES

    def __init__(self, node_class):
        super().__init__(node_class)
        # The values, learnt from only if this turns out a map: feeding each value to a map node as well as to its
        # property's node would double the work at every level of nesting.
        self._values: list = []
        self._key_length, self._sizes = 0, []

    def add_object(self, obj):
        super().add_object(obj)
        self._values.extend(obj.values())
        self._key_length = max([self._key_length, *map(len, obj)])
        self._sizes.append(len(obj))

    def to_schema(self):
        if len(self._properties) <= self.max_properties:
            schema = super().to_schema()
            schema.setdefault("properties", {})
            schema["additionalProperties"] = False
            return schema
        values = self.node_class()
        for value in self._values:
            values.add_object(value)
        return {"type": "object", "additionalProperties": values.to_schema(),
                "propertyNames": {"maxLength": self._key_length},
                "minProperties": min(self._sizes), "maxProperties": max(self._sizes)}


def _builder(max_enum: int, max_properties: int) -> SchemaBuilder:
    strings = type("Strings", (_EnumOrBoundedString,), {"max_enum": max_enum})
    objects = type("Objects", (_ClosedObjectOrMap,), {"max_properties": max_properties})

    class RecordSchemaBuilder(SchemaBuilder):
        EXTRA_STRATEGIES = (strings, _RangedNumber, _SizedList, objects)

    return RecordSchemaBuilder(schema_uri=None)


def _wide(value) -> bool:
    """Whether ``value`` holds a number beyond 64-bit integers (xgrammar reads JSON-Schema numbers as doubles)."""
    if isinstance(value, (dict, list)):
        return any(map(_wide, value.values() if isinstance(value, dict) else value))
    return isinstance(value, (int, float)) and not _INT64_MIN <= value <= _INT64_MAX


def _xgrammar_schema(schema, exact: dict[str, str]):
    """``schema`` as xgrammar's JSON-Schema converter takes it, and the exact EBNF of what it would get wrong.

    The converter refuses integer bounds beyond 64 bits and writes such values of an ``enum``/``const`` as doubles
    (``1e+20``): those schemas become placeholder string constants, and ``exact`` maps each placeholder's EBNF
    literal to the EBNF of the exact integer range (:mod:`.range_grammar`) or values. An integer with one such bound
    and no other drops it (its digits are unbounded; :meth:`JsonRecordSchema.validate` still checks it).
    """
    if not isinstance(schema, dict):
        return schema
    values = schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    low, high = schema.get("minimum"), schema.get("maximum")
    if values is not None and _wide(values):
        texts = (json.dumps(value, ensure_ascii=False, separators=SEPARATORS) for value in values)
        expression = " | ".join(json.dumps(text, ensure_ascii=False) for text in texts)
    elif schema.get("type") == "integer" and _wide([low, high]):
        if low is None or high is None:
            return {key: value for key, value in schema.items() if key not in ("minimum", "maximum")}
        expression = integer_range(math.ceil(low), math.floor(high))
    else:
        rebuilt = {}
        for key, value in schema.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                value = {name: _xgrammar_schema(sub, exact) for name, sub in value.items()}
            elif key in _SUBSCHEMAS:
                value = ([_xgrammar_schema(sub, exact) for sub in value] if isinstance(value, list)
                         else _xgrammar_schema(value, exact))
            rebuilt[key] = value
        return rebuilt
    placeholder = f"ldlm-exact-{len(exact)}"
    exact[json.dumps(json.dumps(placeholder))] = f"({expression})"
    return {"const": placeholder}


def object_schemas(schema: dict) -> list[dict]:
    """The object-typed branches of ``schema`` (itself, or its ``anyOf``/``oneOf`` alternatives)."""
    branches = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return [b for b in branches if isinstance(b, dict) and ("properties" in b or "additionalProperties" in b)]


def canonical(value, schema: dict | bool):
    """``value`` with every object's keys in its schema's property order (keys the schema does not list follow,
    in the record's order); arrays and map values are reordered by their item / value schema."""
    schema = schema if isinstance(schema, dict) else {}
    if isinstance(value, list):
        items = schema.get("items")
        if items is None:
            items = next((s.get("items") for s in schema.get("anyOf", []) if isinstance(s, dict) and "items" in s), {})
        return [canonical(item, items) for item in value]
    if not isinstance(value, dict):
        return value
    objects = object_schemas(schema)
    properties = objects[0].get("properties", {}) if objects else {}
    rest = objects[0].get("additionalProperties", {}) if objects else {}
    ordered = [key for key in properties if key in value] + [key for key in value if key not in properties]
    return {key: canonical(value[key], properties.get(key, rest)) for key in ordered}


@dataclass(frozen=True)
class JsonRecordSchema:
    """A JSON Schema for whole records (top level: an object), used to write, read, check and constrain them."""

    json_schema: dict
    target: str | None = None
    _validator: Any = field(init=False, repr=False, compare=False)
    has_columns: ClassVar[bool] = False  # nested records (see record_schemas.RecordSchema)
    record_format: ClassVar[str] = "json"

    def __post_init__(self):
        if not isinstance(self.json_schema, dict) or self.json_schema.get("type") != "object":
            raise ValueError('A JsonRecordSchema needs a JSON Schema whose top level is {"type": "object", ...}.')
        validator_class = jsonschema.validators.validator_for(self.json_schema)
        try:
            validator_class.check_schema(self.json_schema)
        except jsonschema.SchemaError as error:
            raise ValueError(f"Not a valid JSON Schema: {error.message} (at {list(error.path)}).") from None
        object.__setattr__(self, "_validator", validator_class(self.json_schema))

    @property
    def names(self) -> list[str]:
        """The top-level keys (what ``fixed_values`` and ``conditions`` may name)."""
        return list(self.json_schema.get("properties", {}))

    # -- inference and storage ------------------------------------------------------------------------------
    @classmethod
    def infer(
        cls,
        records: Sequence[dict],
        target: str | None = None,
        max_enum: int = DEFAULT_MAX_ENUM,
        max_properties: int = DEFAULT_MAX_PROPERTIES,
    ) -> "JsonRecordSchema":
        """The schema of ``records`` (dicts, or anything :func:`read_json_records` takes).

        Strings with at most ``max_enum`` distinct values that each recur become enums; objects with more than
        ``max_properties`` distinct keys become maps (``additionalProperties``). Keys present in every record are
        required. Records nesting deeper than :data:`.json_lines.MAX_DEPTH` are refused; below it, inference's time
        and memory grow linearly with the records' size.
        """
        records = read_json_records(records)
        builder = _builder(max_enum, max_properties)
        for record in records:
            builder.add_object(record)
        return cls(builder.to_schema(), target)

    @classmethod
    def from_json_schema_file(cls, path: str | Path, target: str | None = None) -> "JsonRecordSchema":
        """A user's JSON Schema file (the records' top level must be an object)."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"Schema file not found: {str(path)!r}.")
        try:
            schema = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{str(path)!r} is not JSON: {error}") from None
        return cls(schema, target)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in the pipeline's ``model_index.json``); ``kind`` tells it apart. The
        JSON Schema is kept as text: configs are saved with sorted keys, which would reorder its properties (the
        order records are written in)."""
        return {"kind": KIND, "json_schema": json.dumps(self.json_schema, ensure_ascii=False), "target": self.target}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JsonRecordSchema":
        schema = data["json_schema"]
        return cls(json.loads(schema) if isinstance(schema, str) else schema, data.get("target"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")

    # -- records --------------------------------------------------------------------------------------------
    def records(self, data) -> list[dict]:
        """The records of ``data`` (a JSON Lines file or a list of dicts), keys in the schema's order."""
        return [canonical(record, self.json_schema) for record in read_json_records(data)]

    def to_text(self, record: dict) -> str:
        """Compact JSON with keys in the schema's order: the text the decoder learns and writes."""
        return json.dumps(canonical(record, self.json_schema), ensure_ascii=False, separators=SEPARATORS)

    def parse(self, text: str) -> dict:
        """The record a text holds; :class:`.record_format.RecordParseError` where it is not a JSON object."""
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise RecordParseError(error.msg, error.pos, None, text) from None
        if not isinstance(record, dict):
            raise RecordParseError(f"a record is a JSON object, not {type(record).__name__}", 0, None, text)
        return record

    def validate(self, record: dict) -> list[str]:
        """Which path breaks which rule of the JSON Schema (an empty list: the record is valid)."""
        errors = sorted(self._validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
        return [f"{'/'.join(map(str, e.absolute_path)) or '(record)'}: {e.message}" for e in errors]

    def records_to_frame(self, records: Sequence[dict]):
        """A DataFrame with one column per top-level key (nested values stay Python objects)."""
        import pandas as pd

        return pd.DataFrame(list(records), columns=self.names or None)

    # -- constrained decoding -------------------------------------------------------------------------------
    def grammar(self, fixed_values: dict | None = None) -> "xgrammar.Grammar":
        """xgrammar's grammar of the schema's compact JSON, with top-level ``fixed_values`` written exactly.

        xgrammar enforces types, enums, ``required``, string lengths, numeric ranges, array and map sizes; what it
        leaves out (e.g. ``pattern`` or ``uniqueItems`` in a user's schema) is still caught by :meth:`validate`.
        Integers beyond 64 bits (ranges and enum values) are written by this module's own EBNF, exactly.
        """
        import xgrammar as xgr  # imported here: reading a schema should not load the grammar compiler

        schema = self.json_schema
        if fixed_values:
            unknown = [name for name in fixed_values if name not in self.names]
            if unknown:
                raise ValueError(f"fixed_values names unknown keys {unknown}; the schema's keys are {self.names}.")
            properties = {**schema["properties"], **{k: {"enum": [v]} for k, v in fixed_values.items()}}
            required = list(dict.fromkeys([*schema.get("required", []), *fixed_values]))
            schema = {**schema, "properties": properties, "required": required}
        exact: dict[str, str] = {}
        grammar = xgr.Grammar.from_json_schema(json.dumps(_xgrammar_schema(schema, exact)), any_whitespace=False,
                                               separators=SEPARATORS, strict_mode=True)
        # xgrammar's length-bounded strings allow raw control characters, which JSON forbids, and surrogate code
        # points, whose UTF-8 bytes are invalid (decoded, each byte becomes a U+FFFD): exclude both.
        ebnf = str(grammar).replace(_XGRAMMAR_BOUNDED_CHAR, _JSON_BOUNDED_CHAR)
        for placeholder, expression in exact.items():
            ebnf = ebnf.replace(placeholder, expression)
        return xgr.Grammar.from_ebnf(ebnf)
