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

# Declared type -> the Python types a JSON value of it may have ("any" and unknown names accept everything).
_TYPES = {
    "string": (str,), "char": (str,),
    "integer": (int,), "int": (int,), "long": (int,),
    "float": (int, float), "double": (int, float), "number": (int, float),
    "boolean": (bool,),
    "array": (list,), "tuple": (list,), "arraylist": (list,),
    "dict": (dict,), "object": (dict,), "hashmap": (dict,),
}


def is_tool_call_schema(schema) -> bool:
    """Whether records of ``schema`` (a record schema, or its top-level key names) carry functions and calls."""
    names = getattr(schema, "names", schema)
    return all(key in names for key in TOOL_CALL_KEYS)


def _fits(value, spec: dict) -> list[str]:
    declared = str(spec.get("type", "any")).lower()
    types = _TYPES.get(declared)
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
