"""Tool calling through the official openai SDK (mock provider)."""

import json

QUESTION = "what is the weather in Paris"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a timezone",
        "parameters": {
            "type": "object",
            "properties": {
                "tz": {"type": "string"},
                "offset": {"type": "integer"},
                "precise": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["tz", "offset", "precise"],
        },
    },
}


def test_tool_call_round_trip(client):
    messages = [{"role": "user", "content": QUESTION}]
    first = client.chat.completions.create(
        model="mock/echo", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto",
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    msg = choice.message
    assert msg.role == "assistant"
    assert msg.tool_calls is not None and len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call.type == "function"
    assert call.id == "call_mock_0"
    assert call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert isinstance(args, dict)
    assert "city" in args
    assert args["city"] == QUESTION  # required strings are filled with the last user message
    assert first.usage.completion_tokens == len(call.function.arguments.split()) + 1

    # What an application does: append the assistant message as returned, then the tool result.
    messages.append(msg)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = client.chat.completions.create(
        model="mock/echo", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto",
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "tool result: sunny, 21C"
    assert not second.choices[0].message.tool_calls


def test_tool_call_through_alias(client):
    resp = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": QUESTION}],
        tools=[WEATHER_TOOL],
    )
    assert resp.choices[0].finish_reason == "tool_calls"
    assert resp.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_named_tool_choice_and_argument_types(client):
    resp = client.chat.completions.create(
        model="mock/echo",
        messages=[{"role": "user", "content": "time please"}],
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert resp.choices[0].finish_reason == "tool_calls"
    calls = resp.choices[0].message.tool_calls
    assert len(calls) == 1
    assert calls[0].function.name == "get_time"
    args = json.loads(calls[0].function.arguments)
    assert args["tz"] == "time please"
    assert args["offset"] == 0
    assert args["precise"] is False
    assert "note" not in args  # only required parameters are filled


def test_tool_choice_none_answers_with_text(client):
    resp = client.chat.completions.create(
        model="mock/echo", messages=[{"role": "user", "content": QUESTION}],
        tools=[WEATHER_TOOL], tool_choice="none",
    )
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.content == QUESTION
    assert not resp.choices[0].message.tool_calls


def test_streamed_tool_call(client):
    messages = [{"role": "user", "content": QUESTION}]
    stream = client.chat.completions.create(
        model="mock/echo", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto",
        stream=True, stream_options={"include_usage": True},
    )
    calls: dict[int, dict] = {}
    finish = None
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            for tc in ch.delta.tool_calls or []:
                acc = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    acc["id"] = tc.id
                if tc.function is not None:
                    if tc.function.name:
                        acc["name"] += tc.function.name
                    if tc.function.arguments:
                        acc["arguments"] += tc.function.arguments
            if ch.finish_reason:
                finish = ch.finish_reason

    assert finish == "tool_calls"
    assert list(calls) == [0]
    call = calls[0]
    assert call["id"] == "call_mock_0"
    assert call["name"] == "get_weather"
    args = json.loads(call["arguments"])
    assert args == {"city": QUESTION}
    assert usage is not None
    assert usage.completion_tokens == len(call["arguments"].split()) + 1

    # Round trip with the accumulated call, as plain dicts.
    messages.append({
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call["id"], "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]}}],
    })
    messages.append({"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21C"})
    stream2 = client.chat.completions.create(
        model="mock/echo", messages=messages, tools=[WEATHER_TOOL], stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream2 if c.choices)
    assert text == "tool result: sunny, 21C"


def test_agent_loop_ends_in_text_once_the_tool_results_are_in(client):
    """An agent loop as applications write it: call tools until the model answers in text. The
    loop also nudges the model on after each result, which must not make it call again."""
    for stream in (False, True):
        messages = [{"role": "user", "content": QUESTION}]
        for turn in range(1, 6):
            kwargs = dict(model="mock/echo", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto")
            if stream:
                with client.chat.completions.stream(**kwargs) as s:
                    message = s.get_final_completion().choices[0].message
            else:
                message = client.chat.completions.create(**kwargs).choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
            messages.append({"role": "user", "content": "go on"})
        else:
            raise AssertionError(f"the agent loop did not end in five turns (stream={stream})")
        assert (turn, message.content) == (2, "tool result: sunny, 21C"), f"stream={stream}"
