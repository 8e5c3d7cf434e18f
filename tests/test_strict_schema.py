"""The schema OpenAI is sent: strict-valid (checked by the fake server's model of OpenAI's
rules, written apart from the transform), and never lets a reply carry what pydantic refuses
for a reason the schema hides (a null, a missing default)."""

from __future__ import annotations

from datetime import datetime

import jsonschema
import pytest
from pydantic import BaseModel, Field, HttpUrl, TypeAdapter, ValidationError

from applyflow.strict_schema import openai_strict
from tasks.extract import EXTRACT
from tasks.generate import GENERATE
from tasks.research import RESEARCH
from tasks.score import SCORE
from tests.reliability.strict_mode import schema_problems

LAYERS = [EXTRACT, RESEARCH, SCORE, GENERATE]


class Inner(BaseModel):
    """A nested object."""

    name: str = Field(min_length=1, max_length=5)
    tags: set[str] = set()


class Outer(BaseModel):
    """A model using what strict mode does and does not take."""

    site: HttpUrl | None = None
    when: datetime
    inner: Inner = Field(description="the nested one")
    more: list[Inner] = Field(default_factory=list, min_length=1, max_length=3)
    score: float = Field(ge=0, le=1, multiple_of=0.5)


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_every_layer_schema_is_refused_as_is_and_accepted_once_strict(layer) -> None:
    plain = layer.schema.model_json_schema()
    assert schema_problems(plain)  # what main used to send with strict: false
    assert schema_problems(openai_strict(plain)) == []


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_a_strict_reply_never_carries_what_the_layer_schema_refuses_by_type(layer) -> None:
    """Every field is required in the sent schema: a null arrives only where the field's type
    takes one, and a field pydantic defaults can always be sent its default."""
    sent = openai_strict(layer.schema.model_json_schema())["properties"]
    for name, field in layer.schema.model_fields.items():
        takes_null = _valid(None, sent[name])
        assert takes_null == _accepts(field.annotation, None), name
        if not field.is_required():
            default = field.get_default(call_default_factory=True)
            assert _valid(TypeAdapter(field.annotation).dump_python(default), sent[name]), name


def test_unsupported_keywords_are_dropped_and_supported_ones_kept() -> None:
    schema = openai_strict(Outer.model_json_schema())
    assert schema_problems(schema) == []
    props = schema["properties"]
    assert props["site"] == {"title": "Site", "anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["when"]["format"] == "date-time"
    # A $ref with a sibling keyword is inlined, keeping the field's description.
    assert props["inner"]["description"] == "the nested one"
    assert props["inner"]["properties"]["name"] == {"type": "string", "title": "Name"}
    assert props["inner"]["properties"]["tags"]["type"] == "array"  # uniqueItems dropped
    assert "uniqueItems" not in props["inner"]["properties"]["tags"]
    assert (props["more"]["minItems"], props["more"]["maxItems"]) == (1, 3)
    assert props["more"]["items"] == {"$ref": "#/$defs/Inner"}
    assert schema["$defs"]["Inner"]["required"] == ["name", "tags"]
    assert {k: props["score"][k] for k in ("minimum", "maximum", "multipleOf")} == {
        "minimum": 0,
        "maximum": 1,
        "multipleOf": 0.5,
    }
    assert "default" not in str(schema)


def test_what_strict_mode_cannot_express_is_an_error() -> None:
    class Loose(BaseModel):
        extra: dict[str, int]

    with pytest.raises(ValueError, match="free-form"):
        openai_strict(Loose.model_json_schema())
    with pytest.raises(ValueError, match="root"):
        openai_strict({"type": "array", "items": {"type": "string"}})


def _valid(value: object, schema: dict) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


def _accepts(annotation: object, value: object) -> bool:
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True
