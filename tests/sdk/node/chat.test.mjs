// Node SDK tests: the official `openai` npm package against the real gateway.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway } from './gateway.mjs';

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
    },
  },
};

describe('switchyard via the openai npm package', { timeout: 120_000 }, () => {
  let gw;
  let client;

  before(async () => {
    gw = await startGateway();
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sk-client-side-unused', maxRetries: 0, timeout: 30_000 });
  });

  after(async () => {
    if (gw) await gw.stop();
  });

  test('streaming returns the input text', async () => {
    const input = 'the quick brown fox jumps over the lazy dog';
    const stream = await client.chat.completions.create({
      model: 'mock/echo',
      messages: [{ role: 'user', content: input }],
      stream: true,
    });
    let text = '';
    const finishes = [];
    let pieces = 0;
    let sawUsage = false;
    let role;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) sawUsage = true;
      for (const choice of chunk.choices) {
        if (choice.delta.role) role = choice.delta.role;
        if (choice.delta.content) { text += choice.delta.content; pieces += 1; }
        if (choice.finish_reason) finishes.push(choice.finish_reason);
      }
    }
    assert.equal(text, input);
    assert.equal(role, 'assistant');
    assert.equal(pieces, input.split(' ').length, 'one content piece per word');
    assert.deepEqual(finishes, ['stop']);
    assert.equal(sawUsage, false, 'usage chunk leaked into a stream that did not ask for it');
  });

  test('streaming with include_usage ends with one usage chunk', async () => {
    const input = 'count my words please';
    const stream = await client.chat.completions.create({
      model: 'support-bot',
      messages: [{ role: 'user', content: input }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
    assert.equal(text, input);
    const withUsage = chunks.filter((c) => c.usage);
    assert.equal(withUsage.length, 1);
    const last = chunks.at(-1);
    assert.equal(last, withUsage[0]);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.prompt_tokens, 4 + 3);
    assert.equal(last.usage.completion_tokens, 4);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
  });

  test('tool call, then round trip with the tool result', async () => {
    const question = 'what is the weather in Paris';
    const messages = [{ role: 'user', content: question }];
    const first = await client.chat.completions.create({
      model: 'mock/echo',
      messages,
      tools: [WEATHER_TOOL],
      tool_choice: 'auto',
    });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls?.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.id, 'call_mock_0');
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.deepEqual(args, { city: question });

    messages.push(choice.message);
    messages.push({ role: 'tool', tool_call_id: call.id, content: 'sunny, 21C' });
    const second = await client.chat.completions.create({
      model: 'mock/echo',
      messages,
      tools: [WEATHER_TOOL],
      tool_choice: 'auto',
    });
    assert.equal(second.choices[0].finish_reason, 'stop');
    assert.equal(second.choices[0].message.content, 'tool result: sunny, 21C');
  });

  test('raw response headers and typed errors', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'support-bot', messages: [{ role: 'user', content: 'hello there gateway' }] })
      .withResponse();
    assert.equal(data.choices[0].message.content, 'hello there gateway');
    assert.equal(data.usage.prompt_tokens, 6);
    assert.equal(data.usage.completion_tokens, 3);
    assert.ok(response.headers.get('x-request-id'));
    assert.equal(response.headers.get('x-switchyard-provider'), 'mock');
    assert.equal(response.headers.get('x-switchyard-model'), 'echo');

    await assert.rejects(
      client.chat.completions.create({ model: 'nope/none', messages: [{ role: 'user', content: 'hi' }] }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `expected NotFoundError, got ${err}`);
        assert.equal(err.status, 404);
        assert.equal(err.code, 'model_not_found');
        return true;
      },
    );
  });
});
