"""Tool-use records end to end: BFCL loading, semantic validity, fit on nested JSON Lines, sample with re-draws."""

import json
import random
from pathlib import Path

import jsonschema
import pytest
from diffusers import DiffusionPipeline

import hf_latent_diffusion_lm  # noqa: F401  (registers the pipeline with diffusers)
from hf_latent_diffusion_lm.benchmark_data import load_bfcl
from hf_latent_diffusion_lm.cli import main as ldlm
from hf_latent_diffusion_lm.data import JsonRecordSchema
from hf_latent_diffusion_lm.data.json_lines import read_json_records, write_json_lines
from hf_latent_diffusion_lm.grammar import SchemaLogitsProcessor
from hf_latent_diffusion_lm.grammar.json_path_tracker import JsonPathTracker
from hf_latent_diffusion_lm.grammar.tool_call_grammar import calls_schema, required_schema
from hf_latent_diffusion_lm.data.tool_call_validity import semantic_validity, tool_call_problems
from hf_latent_diffusion_lm.testing import tiny_tokenizer
from hf_latent_diffusion_lm.sampling.record_sampling import sample_records
from hf_latent_diffusion_lm.training import fit_pipeline

FIXTURES = Path(__file__).parent / "fixtures"
FUNCTIONS = {"get_weather": ("city", ["oslo", "rome", "lima"]), "convert": ("currency", ["eur", "usd"])}
WEATHER = {"properties": {"city": {"type": "string", "enum": ["oslo", "rome"]}, "days": {"type": "integer"}},
           "required": ["city"]}


def tool_call_records(count: int, seed: int = 0) -> list[dict]:
    """Small valid tool-use records: one offered function and a call of it with its one (required) argument."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        name = rng.choice(sorted(FUNCTIONS))
        argument, values = FUNCTIONS[name]
        records.append({"question": f"{name} {rng.choice(values)}",
                        "functions": [{"name": name, "parameters": {"type": "dict", "properties": {
                            argument: {"type": "string"}}, "required": [argument]}}],
                        "calls": [{"name": name, "arguments": {argument: rng.choice(values)}}]})
    return records


def write_bfcl_pair(directory: Path, question: dict, answer: dict) -> None:
    (directory / "possible_answer").mkdir(parents=True)
    (directory / "BFCL_v4_simple_python.json").write_text(json.dumps(question) + "\n")
    (directory / "possible_answer" / "BFCL_v4_simple_python.json").write_text(json.dumps(answer) + "\n")


def test_load_bfcl_joins_questions_and_answers_by_id():
    records = load_bfcl(FIXTURES / "bfcl")
    assert len(records) == 30 and semantic_validity(records) == 1.0
    first = records[0]  # BFCL_v4_multiple.json comes first in name order
    assert first["question"].startswith("Can I find the dimensions and properties of a triangle")
    assert [f["name"] for f in first["functions"]][:1] == ["triangle_properties.get"]
    # get_area accepts ["", true]: the first real value is taken
    assert first["calls"] == [{"name": "triangle_properties.get", "arguments": {
        "side1": 5, "side2": 4, "side3": 3, "get_area": True, "get_perimeter": True, "get_angles": True}}]


def test_load_bfcl_drops_omittable_arguments_and_unwraps_nested_answers(tmp_path):
    question = {"id": "q0", "question": [[{"role": "user", "content": "Sort it."}]],
                "function": [{"name": "sort", "parameters": {"type": "dict", "properties": {}}}]}
    answer = {"id": "q0", "ground_truth": [{"sort": {"order": [""], "keys": [["a", "b"], ["b"]],
                                                     "options": [{"stable": [True], "limit": [""]}]}}]}
    write_bfcl_pair(tmp_path, question, answer)
    assert load_bfcl(tmp_path) == [{"question": "Sort it.", "functions": question["function"],
                                    "calls": [{"name": "sort", "arguments": {"keys": ["a", "b"],
                                                                             "options": {"stable": True}}}]}]
    with pytest.raises(FileNotFoundError, match="possible_answer"):
        load_bfcl(tmp_path / "possible_answer")


def test_tool_call_problems_name_the_call_and_the_rule():
    record = tool_call_records(1)[0]
    assert tool_call_problems(record) == []
    record["functions"] = [{"name": "get_weather", "parameters": WEATHER}]
    record["calls"] = [{"name": "fly", "arguments": {}},
                       {"name": "get_weather", "arguments": {"days": "3", "when": 1}},
                       {"name": "get_weather", "arguments": {"city": "lima", "days": True}}]
    assert tool_call_problems(record) == [
        "call 0: 'fly' is not an offered function (['get_weather'])",
        "call 1 (get_weather): required argument 'city' is missing",
        "call 1 (get_weather): argument 'days': '3' is not of type 'integer'",
        "call 1 (get_weather): 'when' is not a parameter of the function",
        "call 2 (get_weather): argument 'city': 'lima' is not one of ['oslo', 'rome']",
        "call 2 (get_weather): argument 'days': True is not of type 'integer'",
    ]
    assert semantic_validity([record, tool_call_records(1)[0]]) == 0.5


@pytest.fixture(scope="module")
def tool_call_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "model"
    fit_pipeline(tool_call_records(48), out, preset="tiny", max_steps=4, batch_size=16, diffusion_steps=20,
                 diffusion_options={"hidden_dim": 32, "batch_size": 16})
    return out


def callable_records(records: list[dict]) -> list[dict]:
    """The records offering a function some call can fit (the random decoder also writes functions that require an
    argument they do not declare)."""
    return [record for record in records if calls_schema(record["functions"]) is not None]


def test_fit_pipeline_on_nested_dicts_samples_records_whose_calls_fit_their_functions(tool_call_model, caplog):
    pipe = DiffusionPipeline.from_pretrained(tool_call_model)
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.schema, JsonRecordSchema)
    for engine in ("slots", "generate"):
        first = sample_records(pipe, 16, seed=0, decoding={"engine": engine}, max_rounds=1)
        assert len(first.records) == 16 and first.schema_validity == 1.0
        assert all(pipe.schema.validate(record) == [] for record in first.records)
        assert callable_records(first.records) and semantic_validity(callable_records(first.records)) == 1.0
    sample = sample_records(pipe, 16, seed=0)  # records offering no callable function are re-drawn
    assert sample.redraws > 0 and sample.semantic_validity > sample.first_draw_semantic_validity
    assert sample.problems == [tool_call_problems(record) for record in sample.records]
    caplog.clear()
    unchecked = sample_records(pipe, 16, seed=0, tool_call_consistency=False)
    assert unchecked.schema_validity == 1.0 and unchecked.redraws == 0
    assert "none was re-drawn" in caplog.text and "After" not in caplog.text  # no rounds claimed
    assert semantic_validity(callable_records(unchecked.records)) < 1.0  # a random decoder mixes calls up
    assert unchecked.semantic_validity == sum(not found for found in unchecked.problems) / 16


def test_calls_the_record_schema_cannot_fit_are_redrawn(tool_call_model):
    pipe = DiffusionPipeline.from_pretrained(tool_call_model)
    pipe.set_progress_bar_config(disable=True)
    narrowed = json.loads(json.dumps(pipe.schema.json_schema))
    narrowed["properties"]["calls"]["items"]["properties"]["arguments"]["properties"]["city"] = {"type": "integer"}
    pipe.schema = JsonRecordSchema(narrowed)  # a city is a string in every function, an integer in every call
    first = sample_records(pipe, 16, seed=0, max_rounds=1)
    assert first.schema_validity == 1.0 and len(first.records) == 16
    calls_city = [record for record in first.records if "city" in record["calls"][0]["arguments"]]
    assert calls_city and all(tool_call_problems(record) for record in calls_city)
    sample = sample_records(pipe, 16, seed=0, max_rounds=5)
    assert sample.redraws > 0 and sample.semantic_validity > first.semantic_validity
    assert sample.semantic_validity == sum(not tool_call_problems(record) for record in sample.records) / 16


def test_cli_fit_sample_on_json_lines_with_a_user_schema(tmp_path, capsys):
    data = write_json_lines(tool_call_records(40, seed=1), tmp_path / "calls.jsonl")
    records = read_json_records(data)
    schema = JsonRecordSchema.infer(records).json_schema
    longest = max(len(record["question"]) for record in records)  # the data must fit the user's schema
    schema["properties"]["question"] = {"type": "string", "maxLength": longest}  # free text, not the inferred enum
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    assert ldlm(["fit", str(data), "--out", str(tmp_path / "model"), "--preset", "tiny", "--max-steps", "3",
                 "--diffusion-max-steps", "10", "--batch-size", "16", "--schema", str(tmp_path / "schema.json")]) == 0
    assert ldlm(["sample", str(tmp_path / "model"), "-n", "8", "--out", str(tmp_path / "synthetic.jsonl")]) == 0
    synthetic = read_json_records(tmp_path / "synthetic.jsonl")
    assert len(synthetic) == 8 and all(len(record["question"]) <= longest for record in synthetic)
    inferred = {f"{name} {value}" for name, (_, values) in FUNCTIONS.items() for value in values}
    assert not {record["question"] for record in synthetic} & inferred
    assert "schema validity 100.0%" in capsys.readouterr().out


def test_evaluate_scores_copies_broken_calls_and_new_records(tmp_path, capsys):
    real = load_bfcl(FIXTURES / "bfcl")
    synthetic = [json.loads(json.dumps(record)) for record in real[:10]]  # 10 exact copies...
    for record in synthetic[5:]:  # ...of which 5 are changed: a new question and a call of no offered function
        record["question"] = "Which planet is the largest one in the solar system today?"
        record["calls"][0]["name"] = "unknown_function"
    write_json_lines(real, tmp_path / "real.jsonl")
    write_json_lines(synthetic, tmp_path / "synthetic.jsonl")
    assert ldlm(["evaluate", str(tmp_path / "real.jsonl"), str(tmp_path / "synthetic.jsonl"),
                 "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert "Schema validity ↑: 1.0000" in printed
    assert "Semantic validity (calls fit their functions) ↑: 0.5000" in printed
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["exact_copy_rate"] == 0.5 and report["near_copy_rate"] == 0.5
    names = {call["name"] for record in synthetic for call in record["calls"]}
    assert "unknown_function" in names and report["diversity"]["synthetic"]["distinct_function_names"] == len(names)
    assert report["path_scores"][".calls[].name"]["score"] < 1.0
    assert 0.0 <= report["alpha_precision"] <= 1.0 and 0.0 <= report["beta_recall"] <= 1.0
    assert "unknown_function" in (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "record_evaluation.png").stat().st_size > 10_000


def test_calls_schema_accepts_exactly_the_calls_that_fit_their_functions():
    records = load_bfcl(FIXTURES / "bfcl")
    for record in records:
        schema = calls_schema(record["functions"])
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(record["calls"])) == []
        broken = json.loads(json.dumps(record["calls"]))
        broken[0]["name"] = "not_offered"
        assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
    weather = {"name": "get_weather", "parameters": WEATHER}
    validator = jsonschema.Draft202012Validator(calls_schema([weather]))
    for arguments in [{"city": "oslo"}, {"city": "rome", "days": 3}, {"days": 3}, {"city": "lima"},
                      {"city": "oslo", "days": "3"}, {"city": "oslo", "when": 1}]:
        record = {"functions": [weather], "calls": [{"name": "get_weather", "arguments": arguments}]}
        assert validator.is_valid(record["calls"]) == (tool_call_problems(record) == []), arguments
    assert calls_schema([{"name": "f", "parameters": {"properties": {}, "required": ["x"]}}]) is None


def test_record_places_are_found_outside_strings_and_nested_objects():
    functions = [{"name": "f", "parameters": {"type": "dict", "properties": {"x": {"type": "string"}, "calls": {}},
                                              "required": ["x"]}}]
    record = {"question": 'say "calls": [now \\', "functions": functions,  # quotes, a bracket, a final backslash
              "calls": [{"name": "f", "arguments": {"x": "1"}}]}
    tracker, paths, before = JsonPathTracker(), [], {}
    for byte in json.dumps(record, separators=(",", ":")).encode():
        path = tracker.feed(byte)
        if path is not None:
            paths.append(path)
            before[json.dumps(path)] = json.loads(tracker.object_so_far())
    assert paths.count(["calls"]) == 1 and ["functions", 0, "parameters", "properties", "calls"] in paths
    assert before['["calls"]'] == {"question": record["question"], "functions": functions}
    parameters = before['["functions", 0, "parameters", "required"]']
    assert parameters == {"type": "dict", "properties": functions[0]["parameters"]["properties"]}
    assert required_schema(parameters) == {"type": "array", "items": {"enum": ["x", "calls"]}}
    assert required_schema({"type": "dict"}) is None  # before its properties: nothing to check against


def test_calls_grammar_takes_every_real_call_and_ends_the_record():
    records = load_bfcl(FIXTURES / "bfcl")
    tokenizer = tiny_tokenizer()
    processor = SchemaLogitsProcessor(JsonRecordSchema.infer(records), tokenizer, len(tokenizer))
    grammar = processor.tool_call_grammar(num_rows=1)
    for record in records:
        matcher = grammar.matcher(record["functions"])
        assert matcher.accept_string(json.dumps(record["calls"], separators=(",", ":"), ensure_ascii=False) + "}")
        assert matcher.accept_token(tokenizer.eos_token_id)
    assert SchemaLogitsProcessor(JsonRecordSchema.infer(records), tokenizer, len(tokenizer),
                                 tool_call_consistency=False).tool_call_grammar(1) is None


def test_a_fitted_pipeline_stores_its_text_encoder_in_bfloat16_and_loads_it_back_in_float32(tool_call_model):
    """The shared pipeline's encoder (which sampling never runs) is stored at half the size."""
    import torch
    from safetensors import safe_open

    def dtypes(folder, encoder: bool) -> set:
        with safe_open(str(folder / "model.safetensors"), "pt") as weights:
            return {weights.get_tensor(name).dtype for name in weights.keys() if name.startswith("encoder.") == encoder}

    assert dtypes(tool_call_model / "vae", encoder=True) == {torch.bfloat16}
    assert dtypes(tool_call_model / "vae", encoder=False) == {torch.float32}
    pipe = DiffusionPipeline.from_pretrained(tool_call_model)
    assert {parameter.dtype for parameter in pipe.vae.parameters()} == {torch.float32}
    latents = pipe.encode(tool_call_records(4))
    assert latents.shape == (4, pipe.vae.config.latent_dim) and torch.isfinite(latents).all()
