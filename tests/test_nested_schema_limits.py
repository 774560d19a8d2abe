"""Nested records at the edges: integers beyond 64 bits stay exact through the grammar, schema inference stays linear
in the depth, records nested past the limit are refused in one line, and a user's JSON Schema is checked against the
data."""

import json

import pytest
import xgrammar as xgr
from genson.schema.node import SchemaNode
from test_user_errors import error_of

from hf_latent_diffusion_lm.data import JsonRecordSchema
from hf_latent_diffusion_lm.grammar import grammar_compiler
from hf_latent_diffusion_lm.data.json_lines import MAX_DEPTH, read_json_records
from hf_latent_diffusion_lm.data.record_schemas import infer_schema
from hf_latent_diffusion_lm.testing import tiny_tokenizer

HUGE = 10**20 + 7
RECORDS = [{"id": HUGE, "detail": {"sizes": [10**20, 3], "debt": -(10**25)}},
           {"id": 5, "detail": {"sizes": [1], "debt": 0}}]


def accepts(grammar, text: str) -> bool:
    tokenizer = tiny_tokenizer()
    matcher = xgr.GrammarMatcher(grammar_compiler(tokenizer, len(tokenizer)).compile_grammar(grammar))
    return matcher.accept_string(text) and matcher.accept_token(tokenizer.eos_token_id)


def nested(depth: int, leaf=1):
    """``{"a": {"a": ... leaf}}``, ``depth`` objects deep."""
    record = leaf
    for _ in range(depth):
        record = {"a": record}
    return record


def test_integers_beyond_64_bits_compile_and_the_grammar_takes_exactly_their_range():
    schema = JsonRecordSchema.infer(RECORDS)
    assert schema.json_schema["properties"]["id"]["maximum"] == HUGE
    grammar = schema.grammar()
    assert all(accepts(grammar, schema.to_text(record)) for record in RECORDS)
    assert not accepts(grammar, schema.to_text({**RECORDS[0], "id": HUGE + 1}))
    assert not accepts(grammar, schema.to_text({**RECORDS[0], "id": 4}))
    fixed = schema.grammar({"id": HUGE})  # an enum of a huge value: written exactly, not as 1e+20
    assert accepts(fixed, schema.to_text(RECORDS[0])) and not accepts(fixed, schema.to_text(RECORDS[1]))


def test_a_user_schema_with_a_huge_const_and_a_one_sided_huge_bound_compiles():
    schema = JsonRecordSchema({"type": "object", "properties": {"v": {"const": HUGE},
                                                                "w": {"type": "integer", "minimum": 10**20}},
                               "required": ["v", "w"], "additionalProperties": False})
    grammar = schema.grammar()
    assert accepts(grammar, f'{{"v":{HUGE},"w":{10**21}}}') and not accepts(grammar, f'{{"v":{HUGE - 1},"w":1}}')


def test_schema_inference_grows_linearly_with_depth(monkeypatch):
    created = []
    original = SchemaNode.__init__

    def counted(self, *args, **kwargs):
        created.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaNode, "__init__", counted)

    def nodes(depth: int) -> int:
        created.clear()
        JsonRecordSchema.infer([nested(depth), nested(depth, leaf=7)])
        return len(created)

    per_level = nodes(9) - nodes(8)
    assert nodes(16) - nodes(8) == 8 * per_level  # checked first: before the fix, depth 32 would not finish
    assert nodes(32) - nodes(16) == 16 * per_level
    innermost = JsonRecordSchema.infer([nested(40), nested(40, leaf=7)]).json_schema
    for _ in range(40):
        innermost = innermost["properties"]["a"]
    assert (innermost["type"], innermost["minimum"], innermost["maximum"]) == ("integer", 1, 7)


def test_nested_maps_get_the_schema_of_all_their_values():
    records = [{"m": {"x": {"k": {"p": 1, "q": 2}}, "y": {"k": {"p": 3}}}}]
    schema = JsonRecordSchema.infer(records, max_properties=1).json_schema
    inner = schema["properties"]["m"]["additionalProperties"]["properties"]["k"]
    assert inner["additionalProperties"] == {"type": "integer", "minimum": 1, "maximum": 3}
    assert (inner["minProperties"], inner["maxProperties"]) == (1, 2)


def test_records_nested_past_the_limit_are_refused_naming_depth_and_limit(tmp_path):
    assert JsonRecordSchema.infer([nested(MAX_DEPTH)])  # a flat record is 1 deep: 64 objects are allowed
    with pytest.raises(ValueError, match=f"record 1 nests objects and arrays 1500 deep; .* at most {MAX_DEPTH} deep"):
        read_json_records([{"a": 1}, nested(1500)])
    path = tmp_path / "deep.jsonl"
    path.write_text('{"a": 1}\n' + json.dumps(nested(65)) + "\n")
    with pytest.raises(ValueError, match=f"record 1 nests objects and arrays 65 deep; .* at most {MAX_DEPTH} deep"):
        infer_schema(path)
    path.write_text('{"a": 1}\n' + "[" * 5000 + "]" * 5000 + "\n")  # too deep for Python's JSON parser itself
    with pytest.raises(ValueError, match=f"line 2 nests objects and arrays too deep to read; .* at most {MAX_DEPTH}"):
        infer_schema(path)


def test_user_schema_file_must_exist_and_fit_the_data(tmp_path):
    data = tmp_path / "records.jsonl"
    data.write_text('{"q": "ab", "n": {"k": 1}}\n{"q": "long", "n": {"k": 2}}\n')
    with pytest.raises(FileNotFoundError, match="Schema file not found: 'nope.json'"):
        infer_schema(data, json_schema="nope.json")
    user = tmp_path / "schema.json"
    user.write_text(json.dumps({"type": "object", "properties": {"q": {"type": "string", "maxLength": 3}}}))
    with pytest.raises(ValueError, match=r"Record 1 does not fit the JSON Schema '.*schema.json': q: 'long' is too"):
        infer_schema(data, json_schema=user)
    user.write_text(json.dumps({"type": "object", "properties": {"q": {"type": "string", "maxLength": 4}}}))
    assert infer_schema(data, json_schema=user).validate({"q": "longer"}) == ["q: 'longer' is too long"]


def test_fit_refuses_a_missing_schema_and_too_deep_records_in_one_line(tmp_path, capsys):
    data, out = tmp_path / "records.jsonl", str(tmp_path / "model")
    data.write_text('{"q": "ab", "n": {"k": 1}}\n' * 4)
    assert "Schema file not found: 'nope.json'" in error_of(capsys, ["fit", str(data), "--out", out, "--schema",
                                                                      "nope.json"])
    data.write_text(json.dumps(nested(70)) + "\n")
    assert f"record 0 nests objects and arrays 70 deep; records may nest at most {MAX_DEPTH} deep" in error_of(
        capsys, ["fit", str(data), "--out", out])
