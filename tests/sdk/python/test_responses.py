"""The OpenAI Responses API through the gateway, with the official `openai` SDK: create (string
input, items, function tools and the function_call_output loop), stream + get_final_response,
parse with a pydantic model, previous_response_id (also across providers), retrieve, delete and
input_items.list."""

from __future__ import annotations

import json

import openai
import pydantic
import pytest

from conftest import fixed_completion, running_gateway

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_string_input_answers_and_is_stored(client):
    r = client.responses.create(model="mock/echo", input="hello responses", instructions="be brief")
    assert r.id.startswith("resp_")
    assert r.object == "response" and r.status == "completed"
    assert r.output_text == "hello responses"
    assert r.instructions == "be brief"
    assert r.usage.input_tokens > 0 and r.usage.output_tokens == 2
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens

    got = client.responses.retrieve(r.id)
    assert got.id == r.id and got.output_text == "hello responses"

    items = client.responses.input_items.list(r.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].role == "user"
    assert items.data[0].content[0].text == "hello responses"

    deleted = client.responses.delete(r.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)


def test_items_input_and_store_false(client):
    r = client.responses.create(
        model="mock/echo",
        input=[
            {"role": "developer", "content": "rules"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "from items"}]},
        ],
        store=False,
    )
    assert r.output_text == "from items"
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(r.id)


def test_function_tool_loop(client):
    first = client.responses.create(model="mock/echo", input="weather in Paris?", tools=[WEATHER_TOOL])
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.name == "get_weather" and call.call_id
    json.loads(call.arguments)

    # The whole conversation sent back by the client, as the docs show it.
    second = client.responses.create(
        model="mock/echo",
        input=[
            {"role": "user", "content": "weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21C"},
        ],
        tools=[WEATHER_TOOL],
    )
    assert "sunny, 21C" in second.output_text

    # The same loop with previous_response_id: only the tool output is sent.
    third = client.responses.create(
        model="mock/echo",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "rainy"}],
        tools=[WEATHER_TOOL],
    )
    assert "rainy" in third.output_text


def test_stream_and_final_response(client):
    with client.responses.stream(model="mock/echo", input="one two three") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "one two three"
    assert final.status == "completed" and final.output_text == "one two three"
    assert final.usage is not None and final.usage.output_tokens == 3
    # Stored when the stream ended (in the background: allow it a moment).
    for _ in range(50):
        try:
            assert client.responses.retrieve(final.id).output_text == "one two three"
            break
        except openai.NotFoundError:
            import time

            time.sleep(0.05)
    else:
        pytest.fail("the streamed response was never stored")


def test_raw_stream_event_order(client):
    events = list(client.responses.create(model="mock/echo", input="a b", stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert types.index("response.output_item.added") < types.index("response.output_text.delta")


class Weather(pydantic.BaseModel):
    city: str
    temperature_c: int


def test_parse_with_pydantic_model(client):
    # mock/echo answers with the user's text: here, JSON that fits the schema.
    r = client.responses.parse(
        model="mock/echo",
        input=json.dumps({"city": "Paris", "temperature_c": 21}),
        text_format=Weather,
    )
    assert r.output_parsed == Weather(city="Paris", temperature_c=21)


def test_unknown_previous_response_and_builtin_tools_are_clear_errors(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model="mock/echo", input="x", previous_response_id="resp_nope")
    assert "resp_nope" in str(e.value)
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model="mock/echo", input="x", tools=[{"type": "web_search"}])
    assert "web_search" in str(e.value)


# --- against a fake OpenAI upstream: what the gateway sends, and a conversation across providers


@pytest.fixture(scope="module")
def up_gateway(upstream, tmp_path_factory):
    config = f"""\
providers:
  mock: {{ type: mock }}
  up: {{ type: openai, base_url: {upstream.base_url}, api_key: sk-up }}
"""
    yield from running_gateway(tmp_path_factory.mktemp("gw-resp"), config)


def test_parse_sends_a_json_schema_and_continues_on_another_provider(up_gateway, fresh_upstream):
    client = up_gateway.client()
    first = client.responses.create(model="mock/echo", input="remember: blue")
    assert first.output_text == "remember: blue"

    answer = fixed_completion("gpt-test")
    answer["choices"][0]["message"]["content"] = json.dumps({"city": "Oslo", "temperature_c": -3})
    fresh_upstream.respond = lambda req: (200, answer)
    r = client.responses.parse(
        model="up/gpt-test",
        previous_response_id=first.id,
        input="and now the weather",
        instructions="answer in JSON",
        text_format=Weather,
        max_output_tokens=100,
    )
    assert r.output_parsed == Weather(city="Oslo", temperature_c=-3)
    sent = fresh_upstream.chat_requests()[-1].body
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["name"] == "Weather"
    assert sent["max_completion_tokens"] == 100
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][1]["content"] == "remember: blue"
    assert sent["messages"][2]["content"] == "remember: blue"
    assert "previous_response_id" not in sent and "store" not in sent
