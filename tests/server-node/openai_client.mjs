// Drives llama-server with the official OpenAI Node.js SDK: a completion, a streamed chat and a
// request the server must refuse. Usage: node openai_client.mjs http://127.0.0.1:PORT/v1
// Prints one line per check and exits non-zero on the first failure.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: 'test-key', maxRetries: 0, timeout: 60000 });

const models = await client.models.list();
assert.equal(models.data.length, 1);
const model = models.data[0].id;
console.log(`models: ${model}`);

const completion = await client.completions.create({
  model, prompt: 'And God said', max_tokens: 8, temperature: 0,
});
assert.equal(completion.object, 'text_completion');
assert.equal(typeof completion.choices[0].text, 'string');
assert.ok(completion.choices[0].text.length > 0);
assert.ok(['stop', 'length'].includes(completion.choices[0].finish_reason));
assert.equal(completion.usage.completion_tokens, 8);
console.log(`completion: ${JSON.stringify(completion.choices[0].text)}`);

const stream = await client.chat.completions.create({
  model, stream: true, max_tokens: 12, temperature: 0,
  messages: [{ role: 'system', content: 'Answer briefly.' },
             { role: 'user', content: 'Who made the heaven?' }],
});
let text = '';
let finish = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks += 1;
  const choice = chunk.choices[0];
  if (!choice) continue;
  text += choice.delta?.content ?? '';
  if (choice.finish_reason) finish = choice.finish_reason;
}
assert.ok(chunks >= 3, `expected several chunks, got ${chunks}`);
assert.ok(['stop', 'length'].includes(finish));
const plain = await client.chat.completions.create({
  model, max_tokens: 12, temperature: 0,
  messages: [{ role: 'system', content: 'Answer briefly.' },
             { role: 'user', content: 'Who made the heaven?' }],
});
assert.equal(text, plain.choices[0].message.content, 'streamed chat equals the plain one');
console.log(`streamed chat: ${JSON.stringify(text)} (${chunks} chunks, ${finish})`);

try {
  await client.completions.create({ model, prompt: 'x', temperature: 9 });
  assert.fail('a temperature of 9 was accepted');
} catch (error) {
  assert.ok(error instanceof OpenAI.APIError, `expected an APIError, got ${error}`);
  assert.equal(error.status, 400);
  assert.equal(error.type, 'invalid_request_error');
  assert.match(error.message, /temperature/);
  console.log(`error: ${error.status} ${error.message}`);
}
console.log('ok');
