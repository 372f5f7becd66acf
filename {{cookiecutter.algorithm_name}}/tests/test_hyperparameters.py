"""SageMaker's string hyperparameters, typed by the schema in hyperparameters.json."""

import json

import pytest
from conftest import PROJECT
from hypothesis import assume, given
from hypothesis import strategies as st

from contract import hyperparameters as hp

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


def test_the_readme_table_is_the_schema():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert hp.with_readme_table(readme, hp.load_schema()) == readme, "the README's table is stale: run `make readme`"


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
