"""SageMaker's string hyperparameters, typed by the schema in hyperparameters.json."""

import json
import subprocess

import pytest
from conftest import CODE, PROJECT, entry, program_copy, program_env
from hypothesis import assume, given
from hypothesis import strategies as st

from contract import hyperparameters as hp
from contract import interface

SCHEMA = {
    "depth": {"type": "int", "default": 3, "min": 1, "max": 10, "help": ""},
    "rate": {"type": "float", "default": 0.1, "min": 0.0, "max": 1.0, "help": ""},
    "flag": {"type": "bool", "default": False, "help": ""},
    "mode": {"type": "str", "default": "a", "choices": ["a", "b"], "help": ""},
    "limit": {"type": "int", "default": None, "nullable": True, "min": 2, "max": 100, "help": ""},
}


def test_empty_gives_every_default():
    assert hp.parse({}, SCHEMA) == {"depth": 3, "rate": 0.1, "flag": False, "mode": "a", "limit": None}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"depth": "5"}, {"depth": 5}),
        ({"depth": "5.0"}, {"depth": 5}),
        ({"depth": 7}, {"depth": 7}),
        ({"rate": "0.25"}, {"rate": 0.25}),
        ({"rate": "1e-2"}, {"rate": 0.01}),
        ({"flag": "True"}, {"flag": True}),  # SDK v2's str(True)
        ({"flag": "true"}, {"flag": True}),  # SDK v3's json.dumps(True)
        ({"flag": "0"}, {"flag": False}),
        ({"flag": True}, {"flag": True}),
        ({"mode": '"b"'}, {"mode": "b"}),  # JSON-quoted by script-mode estimators
        ({"mode": " b "}, {"mode": "b"}),
        ({"limit": "None"}, {"limit": None}),
        ({"limit": "null"}, {"limit": None}),
        ({"limit": "50"}, {"limit": 50}),
    ],
)
def test_strings_become_typed_values(raw, expected):
    assert {k: v for k, v in hp.parse(raw, SCHEMA).items() if k in raw} == expected


# How each client writes a typed value into SageMaker's string-only HyperParameters.
ENCODINGS = {
    "plain": str,  # boto3 by hand, SDK v2's Estimator (str(v): True -> "True", None -> "None")
    "v3": lambda v: v if isinstance(v, str) else json.dumps(v),  # ModelTrainer's safe_serialize
    "json": json.dumps,  # SDK v2's framework estimators: every value, strings too
    "json of text": lambda v: json.dumps(str(v)),  # a framework estimator given the value as text
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize(
    "name, value", [("depth", 5), ("rate", 0.25), ("flag", True), ("flag", False), ("mode", "b"), ("limit", None)]
)
def test_every_encoding_gives_the_same_value(encoding, name, value):
    assert hp.parse({name: ENCODINGS[encoding](value)}, SCHEMA)[name] == value


@pytest.mark.parametrize("sent", ["5.0", '"5.0"', "5e0"])  # v3's json.dumps(5.0): an integer written as a float
def test_integers_written_as_floats_are_integers(sent):
    assert hp.parse({"depth": sent}, SCHEMA)["depth"] == 5


def test_integers_are_exact_past_float_precision():
    assert hp.convert("9007199254740993", {"type": "int"}) == 2**53 + 1
    assert hp.convert('"9007199254740993"', {"type": "int"}) == 2**53 + 1


TEXT = {"type": "str", "default": "", "help": ""}


@pytest.mark.parametrize("plain", ["true", "5", "null", "[1, 2]", '{"a": 1}', '"a" or "b"', '"\\q"', '"', '""x'])
def test_plain_text_that_looks_like_json_stays_text(plain):
    assert hp.convert(plain, TEXT) == plain
    assert hp.convert(json.dumps(plain), TEXT) == plain  # and JSON-encoded, it decodes to itself


def test_json_strings_are_decoded_once():
    assert hp.convert('"a\\"b \\u00e9"', TEXT) == 'a"b \u00e9'
    assert hp.convert(json.dumps('"gbtree"'), TEXT) == '"gbtree"'  # a quoted value, sent JSON-encoded
    assert hp.convert('""', TEXT) == ""


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
stripped_text = st.text().filter(lambda t: t == t.strip())


@pytest.mark.deep  # hypothesis: the contract's typing of any value
@given(
    st.one_of(
        st.tuples(st.just("int"), st.integers(-(2**80), 2**80)),
        st.tuples(st.just("float"), finite_floats),
        st.tuples(st.just("bool"), st.booleans()),
        st.tuples(st.just("str"), stripped_text),
    ),
    st.sampled_from(sorted(ENCODINGS)),
)
def test_any_value_survives_every_encoding(kind_value, encoding):
    kind, value = kind_value
    sent = ENCODINGS[encoding](value)
    # A plain quoted literal is read as JSON (see hp.unquote); JSON-encoded, it survives.
    assume(not (kind == "str" and encoding in ("plain", "v3") and hp.unquote(value) != value))
    assert hp.convert(sent, {"type": kind}) == value


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"depth": "abc"}, ["depth", "integer"]),
        ({"depth": "2.5"}, ["depth", "integer"]),
        ({"depth": "0"}, ["depth", "1 to 10"]),
        ({"depth": "11"}, ["depth", "1 to 10"]),
        ({"rate": "nan"}, ["rate", "nan"]),
        ({"rate": "inf"}, ["rate"]),
        ({"flag": "maybe"}, ["flag", "true or false"]),
        ({"mode": "c"}, ["mode", "one of a, b"]),
        ({"limit": "1"}, ["limit", "none"]),
        ({"depth": "none"}, ["depth"]),
        ({"mode": '"unterminated'}, ["mode"]),
    ],
)
def test_bad_values_name_the_key(raw, words):
    with pytest.raises(hp.HyperparameterError) as error:
        hp.parse(raw, SCHEMA)
    for word in words:
        assert word in str(error.value)


def test_unknown_names_fail_and_list_the_known_ones():
    with pytest.raises(hp.HyperparameterError, match="unknown hyperparameter.*dept.*accepts: depth, flag"):
        hp.parse({"dept": "3"}, SCHEMA)


def test_every_error_is_reported_at_once():
    with pytest.raises(hp.HyperparameterError) as error:
        hp.parse({"depth": "x", "rate": "y", "zzz": "1"}, SCHEMA)
    assert all(word in str(error.value) for word in ("depth", "rate", "zzz"))


@pytest.mark.parametrize("name", ["_tuning_objective_metric", "sagemaker_program", "sagemaker_container_log_level"])
def test_names_sagemaker_adds_are_tolerated(name):
    assert hp.parse({name: "x"}, SCHEMA)["depth"] == 3


def test_the_shipped_schema_is_complete_and_its_defaults_are_valid():
    schema = hp.load_schema()
    assert schema
    for name, spec in schema.items():
        assert spec["type"] in hp.TYPES, name
        assert spec["help"].strip(), name
        if spec["default"] is not None or not spec.get("nullable"):
            assert hp.convert(spec["default"], spec) == spec["default"], name
    assert hp.parse({}, schema) == {name: spec["default"] for name, spec in schema.items()}


def test_the_docs_table_is_the_schema():
    page = (PROJECT / "docs" / "hyperparameters.md").read_text(encoding="utf-8")
    assert hp.with_readme_table(page, hp.load_schema()) == page, "docs/hyperparameters.md is stale: run `make docs`"


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"type": "int", "help": "h"}, "depth has no 'default'"),
        ({"type": "integer", "default": 3, "help": "h"}, "depth has type 'integer', not one of int, float, bool, str"),
        ({"type": "int", "default": 3, "min": 10, "max": 1, "help": "h"}, "depth has min 10 above max 1"),
        ({"type": "str", "default": "c", "choices": ["a", "b"], "help": "h"},
         "depth has the default 'c', which is not allowed: expected one of a, b"),
        ({"type": "int", "default": 3, "maxx": 5, "help": "h"},
         "depth has an unknown field 'maxx' (did you mean 'max'?); an entry holds type, default, help, choices"),
        ({"type": "int", "default": 3.5, "help": "h"},
         "depth has the default 3.5, which is not allowed: expected an integer"),
        ({"type": "int", "default": None, "help": "h"}, "depth has the default None, which is not allowed"),
        ({"type": "int", "default": 3, "min": "1", "help": "h"}, "depth's min must be a JSON number, not '1'"),
        ({"type": "bool", "default": True, "help": " "}, "depth's help is empty"),
        ({"type": "str", "default": "a", "max": 3, "help": "h"}, "depth is str: min and max are for int and float"),
        ({"type": "str", "default": "a", "choices": ["a", 1], "help": "h"},
         "depth has the choice 1, which is not a string"),
        ("int", "depth must be an object holding its type, default and help"),
    ],
)  # fmt: skip
def test_a_malformed_schema_entry_is_named_with_what_is_wrong(tmp_path, entry, problem):
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps({**SCHEMA, "depth": entry}))
    with pytest.raises(hp.SchemaError) as raised:
        hp.load_schema(path)
    assert str(raised.value).startswith(f"hyperparameters.json: {problem}"), raised.value
    assert "\n" not in str(raised.value)


def test_a_schema_that_is_not_json_or_not_entries_is_refused(tmp_path):
    path = tmp_path / "hyperparameters.json"
    path.write_text('{"depth": {"type": "int",}}')
    with pytest.raises(hp.SchemaError, match=r"hyperparameters.json is not valid JSON \(.*line 1"):
        hp.load_schema(path)
    path.write_text("[]")
    with pytest.raises(hp.SchemaError, match="must map each hyperparameter's name to its entry"):
        hp.load_schema(path)


def test_the_schema_format_is_a_json_schema_that_the_test_schema_follows(tmp_path):
    """SCHEMA_FORMAT names every field the checker accepts and requires, as a JSON Schema would."""
    entry = hp.SCHEMA_FORMAT["additionalProperties"]
    assert entry["additionalProperties"] is False and set(entry["required"]) <= set(entry["properties"])
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps({name: {**spec, "help": name} for name, spec in SCHEMA.items()}))
    assert list(hp.load_schema(path)) == list(SCHEMA)


def test_tracked_hyperparameters_know_which_were_read():
    given = hp.Tracked({"a": 1, "b": 2, "c": 3})
    assert given["a"] == 1 and given.get("b") == 2
    assert given.unread() == ["c"]
    passed = dict(**hp.Tracked({"a": 1, "b": 2}))  # ** unpacking passes every name on
    assert passed == {"a": 1, "b": 2}
    through = hp.Tracked({"a": 1, "b": 2})
    assert {k: v for k, v in through.items()} == {"a": 1, "b": 2} and through.unread() == []


def test_every_schema_hyperparameter_reaches_the_model(trained_log):
    """Each name in hyperparameters.json must be read by model.py's task_of or fit on the sample job."""
    assert "never reached model.py" not in trained_log, trained_log


def test_reached_means_the_fitted_model_holds_the_value():
    params = {"eta": 0.1, "max_depth": 4, "flag": True, "mode": "hist", "limit": None, "rounds": 50}
    held = {"eta": "0.100000001", "max_depth": "4", "flag": "1", "mode": "hist", "limit": -1, "n_estimators": 50}
    hp.check_reached(params, held, own=(), renamed={"rounds": "n_estimators"})  # text, float32, none: the default
    with pytest.raises(hp.HyperparameterError, match=r"max_depth=5 \(the model holds max_depth=4\).*OWN_HYPERP"):
        hp.check_reached({**params, "max_depth": 5}, held, renamed={"rounds": "n_estimators"})
    with pytest.raises(hp.HyperparameterError, match="max_dept=4 .*has no max_dept; did you mean max_depth"):
        hp.check_reached({"max_dept": 4}, held)
    hp.check_reached({"max_dept": 4}, held, own=("max_dept",))  # model.py's own: not looked for
    hp.check_reached({"C": 2.0}, {"scaler__copy": True, "logisticregression__C": 2.0})  # a Pipeline's step__name


def test_a_librarys_word_on_an_unused_parameter_fails_naming_it():
    messages = ['[16:51:51] WARNING: learner.cc:794: \nParameters: { "max_dept", "x" } are not used.\n',
                "[lib] [Warning] Unknown parameter: num_leafs",
                "DecisionTreeClassifier.__init__() got an unexpected keyword argument 'max_dept'"]
    for message in messages:
        with pytest.raises(hp.HyperparameterError, match="did not use hyperparameter (max_dept|num_leafs)"):
            hp.unused_by_library([message], {"max_dept": 3, "num_leafs": 7}, "lib", known=("max_depth",))
    hp.unused_by_library(["a warning about something else"], {"max_dept": 3}, "lib")


def passed_on() -> tuple[str, dict, int] | None:
    """A schema name that model.py passes to the model as it is (an int, not in OWN_HYPERPARAMETERS),
    its spec, and a valid value other than its default (and, likely, the library's)."""
    own = interface.constant(CODE, "OWN_HYPERPARAMETERS")
    for name, spec in hp.load_schema().items():
        if name in own or spec["type"] != "int" or spec.get("choices"):
            continue
        low, high = spec.get("min", 0), spec.get("max", 2**31)
        value = low + 1 if spec["default"] is None else spec["default"] + 1
        value = value if value <= high else spec["default"] - 1
        if low <= value <= high:
            return name, spec, value
    return None


PASSED_ON = passed_on()
passes_one_on = pytest.mark.applies(PASSED_ON is not None, reason="model.py passes no int hyperparameter on as it is")


def changed_program(tmp_path, model_addition: str = "", schema_addition: dict | None = None):
    """A copy of the program folder, with lines added to model.py and names to hyperparameters.json."""
    program = program_copy(tmp_path)
    (program / "model.py").write_text((program / "model.py").read_text() + model_addition)
    schema = {**hp.load_schema(program / "hyperparameters.json"), **(schema_addition or {})}
    (program / "hyperparameters.json").write_text(json.dumps(schema, indent=2))
    return program


def train_with(program, opt_ml, hyperparameters: dict) -> subprocess.CompletedProcess:
    (opt_ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return subprocess.run([str(entry(program, "train"))], env=program_env(opt_ml), capture_output=True, text=True,
                          timeout=600)


def assert_fails_naming(result, opt_ml, name: str) -> str:
    """`train` failed with one sentence naming the hyperparameter and what to do, in its output too."""
    assert result.returncode == 1, result.stdout + result.stderr
    reason = (opt_ml / "output" / "failure").read_text()
    assert name in reason and "hyperparameters.json" in reason, reason
    assert "Traceback" not in reason and "\n" not in reason, reason
    assert f"training failed: {reason}" in result.stderr
    assert not (opt_ml / "model").exists() or not any((opt_ml / "model").iterdir())
    return reason


@pytest.mark.deep
@passes_one_on
def test_a_misspelled_hyperparameter_fails_training_naming_it(opt_ml, tmp_path):
    name, spec, value = PASSED_ON
    misspelled = name[:-2] + name[-1] + name[-2]  # max_depth: max_detph
    program = changed_program(tmp_path, schema_addition={misspelled: {**spec, "default": value}})
    reason = assert_fails_naming(train_with(program, opt_ml, {}), opt_ml, misspelled)
    assert "did not use" in reason or "never reached" in reason, reason


DROPS = """

_fit = fit


def fit(params, train, validation, job):  # a test's change: this model.py passes NAME's default, not its value
    return _fit({**params, "NAME": DEFAULT}, train, validation, job)
"""


def drops(name: str, spec: dict) -> str:
    """model.py's fit, changed to drop the value of name (every model.py that reads it still finds one)."""
    return DROPS.replace("NAME", name).replace("DEFAULT", repr(spec["default"]))


@pytest.mark.deep
@passes_one_on
def test_a_hyperparameter_model_py_drops_fails_training_naming_it(opt_ml, tmp_path):
    name, spec, value = PASSED_ON
    program = changed_program(tmp_path, drops(name, spec))
    reason = assert_fails_naming(train_with(program, opt_ml, {name: str(value)}), opt_ml, f"{name}={value}")
    assert "never reached the fitted" in reason and "OWN_HYPERPARAMETERS" in reason, reason


@pytest.mark.deep
@passes_one_on
def test_a_hyperparameter_model_py_declares_its_own_is_not_looked_for(opt_ml, tmp_path):
    name, spec, value = PASSED_ON
    declared = drops(name, spec) + f"\n\nOWN_HYPERPARAMETERS = (*OWN_HYPERPARAMETERS, {name!r})\n"
    result = train_with(changed_program(tmp_path, declared), opt_ml, {name: str(value)})
    assert result.returncode == 0, result.stdout + result.stderr
