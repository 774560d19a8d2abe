"""Whether a tool-use record makes sense beyond its JSON Schema: the calls use the functions the record offers.

A record ``{"question", "functions": [{"name", "parameters": {"properties", "required"}}], "calls": [{"name",
"arguments"}]}`` (the layout of :func:`hf_latent_diffusion_lm.benchmark_data.load_bfcl`) is semantically valid when
each call names an offered function, passes every required argument, passes no argument the function does not
declare, and each value fits the declared type (BFCL's Python, Java and JavaScript type names) and enum. A schema
cannot say this: it ties one part of a record to another.
"""

from __future__ import annotations

from typing import Sequence

TOOL_CALL_KEYS = ("functions", "calls")

# Declared type (BFCL's Python, Java and JavaScript names, lower-cased) -> its JSON type. "any" and unknown names
# accept every value.
DECLARED_JSON_TYPES = {
    "string": "string", "char": "string",
    "integer": "integer", "int": "integer", "long": "integer",
    "float": "number", "double": "number", "number": "number",
    "boolean": "boolean",
    "array": "array", "tuple": "array", "arraylist": "array",
    "dict": "object", "object": "object", "hashmap": "object",
}
_PYTHON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
                 "object": (dict,)}


def declared_json_type(spec: dict) -> str | None:
    """The JSON type a parameter declared as ``spec`` takes (``None``: any value)."""
    return DECLARED_JSON_TYPES.get(str(spec.get("type", "any")).lower())


def is_tool_call_schema(schema) -> bool:
    """Whether records of ``schema`` (a record schema, or its top-level key names) carry functions and calls."""
    names = getattr(schema, "names", schema)
    return all(key in names for key in TOOL_CALL_KEYS)


def _fits(value, spec: dict) -> list[str]:
    types = _PYTHON_TYPES.get(declared_json_type(spec))
    if types is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
        return [f"{value!r} is not of type {spec.get('type')!r}"]
    if "enum" in spec and value not in spec["enum"]:
        return [f"{value!r} is not one of {spec['enum']}"]
    items = spec.get("items")
    if isinstance(value, list) and isinstance(items, dict) and "enum" in items:
        return [f"item {item!r} is not one of {items['enum']}" for item in value if item not in items["enum"]]
    return []


def tool_call_problems(record: dict) -> list[str]:
    """Why the calls of ``record`` do not fit its offered functions (an empty list: semantically valid)."""
    offered = {f.get("name"): f for f in record.get("functions") or [] if isinstance(f, dict)}
    calls = record.get("calls")
    if not isinstance(calls, list) or not calls:
        return ["the record makes no call"]
    found = []
    for index, call in enumerate(calls):
        name = call.get("name") if isinstance(call, dict) else None
        if name not in offered:
            found.append(f"call {index}: {name!r} is not an offered function ({sorted(map(str, offered))})")
            continue
        parameters = offered[name].get("parameters") or {}
        declared = parameters.get("properties") or {}
        arguments = call.get("arguments") or {}
        found += [f"call {index} ({name}): required argument {key!r} is missing"
                  for key in parameters.get("required") or [] if key not in arguments]
        for key, value in arguments.items():
            if key not in declared:
                found.append(f"call {index} ({name}): {key!r} is not a parameter of the function")
            elif isinstance(declared[key], dict):
                found += [f"call {index} ({name}): argument {key!r}: {p}" for p in _fits(value, declared[key])]
    return found


def semantic_validity(records: Sequence[dict]) -> float:
    """Share of ``records`` whose calls fit their offered functions."""
    if not records:
        raise ValueError("semantic_validity needs at least one record.")
    return sum(not tool_call_problems(record) for record in records) / len(records)
