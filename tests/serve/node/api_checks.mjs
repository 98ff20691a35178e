// The OpenAI API of `mesh-run serve`, through the official `openai` Node client
// (curl for raw SSE and a client that goes away). Run by tests/serve/serve_e2e.sh:
//   node api_checks.mjs --prompts tests/serve/prompts.txt --expected generate.json
//       [--expect-preemption] [--shutdown]
// generate.json is `mesh-run generate --json` on one rank for the same prompts
// (greedy, --max-new-tokens 64): a request's greedy ids must equal its
// sequence there, whatever else runs on the server at the same time.
// --expect-preemption: the server's KV pool holds 32 blocks of 16 positions
// (--kv-blocks 32), less than the two 200-token prompts with 64 new tokens
// each need together, so sequences are preempted and recomputed.
// With --shutdown the last check sends SIGTERM to world rank 0 itself and
// watches the server drain (503s; the requests in flight complete); the driver
// then checks that mpirun exits 0.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  env, client, MODEL, check, checkEqual, runChecks, apiError, checkErrorShape, rawFetch,
  metrics, perReplica, waitIdle, sleep, curl, sseEvents,
} from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    prompts: { type: 'string' },
    expected: { type: 'string' },
    shutdown: { type: 'boolean', default: false },
    'expect-preemption': { type: 'boolean', default: false },
  },
});

// The cases: line i of the prompts file, as text or as token ids, with its own max_tokens.
const lines = readFileSync(opts.prompts, 'utf8').split('\n').filter((l) => l.trim() !== '');
const reference = JSON.parse(readFileSync(opts.expected, 'utf8')).sequences;
check(reference.length === lines.length, 'generate.json has one sequence per prompt', reference.length);
const MAX_TOKENS = [5, 12, 20, 33, 48, 64, 7, 16, 25, 40, 56, 64];
const cases = lines.map((line, i) => {
  const ids = /^[0-9]+(,[0-9]+)*$/.test(line) ? line.split(',').map(Number) : null;
  const ref = reference[i];
  const max_tokens = MAX_TOKENS[i % MAX_TOKENS.length];
  return {
    i,
    prompt: ids ?? line,
    max_tokens,
    prompt_ids: ref.prompt_ids,
    // generate stops at EOS (not in generated_ids) like the server does.
    ids: ref.generated_ids.slice(0, max_tokens),
    finish: ref.generated_ids.length < max_tokens ? 'stop' : 'length',
  };
});
// prompts.txt: 12 short prompts, two that share a 40-token prefix, two of 200 tokens.
const PREFIX_A = 12, PREFIX_B = 13;
check(cases.length === 16, 'prompts.txt has 16 prompts', cases.length);
const concurrent = cases.filter((c) => c.i !== PREFIX_A && c.i !== PREFIX_B);

const greedy = (c, extra = {}) => ({
  model: MODEL, prompt: c.prompt, max_tokens: c.max_tokens, temperature: 0,
  return_token_ids: true, ...extra,
});

// Greedy results of the concurrent run, by case index (later checks build on them).
const results = new Map();

function checkGreedy(c, choice, what) {
  checkEqual(choice.prompt_token_ids, c.prompt_ids, `${what}: prompt_token_ids (the tokenizer's ids)`);
  checkEqual(choice.token_ids, c.ids, `${what}: token_ids equal mesh-run generate's`);
  checkEqual(choice.finish_reason, c.finish, `${what}: finish_reason`);
}

async function streamText(params) {
  const stream = await client.completions.create({ ...params, stream: true });
  let text = '', ids = [], finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      text += ch.text;
      if (ch.token_ids) ids.push(...ch.token_ids);
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { text, ids, finish, usage };
}

const checks = [
  ['GET /v1/models through the client', async () => {
    const models = await client.models.list();
    checkEqual(models.data.map((m) => m.id), [MODEL], 'model ids');
  }],

  ['GET /v1/mesh describes the mesh', async () => {
    const { status, json } = await rawFetch('/v1/mesh');
    check(status === 200, 'status 200', status);
    checkEqual([json.model, json.mesh, json.dp, json.mp], [MODEL, env.mesh, env.dp, env.mp], 'model, mesh, dp, mp');
    checkEqual(json.devices.map((d) => [d.rank, d.dp, d.mp]),
      Array.from({ length: env.dp * env.mp }, (_, r) => [r, Math.floor(r / env.mp), r % env.mp]),
      'devices [rank, dp, mp]');
    for (const d of json.devices) check(d.capacity === 64 * 1024 * 1024, 'capacity 64 MiB', d);
    checkEqual(json.live.running.length, env.dp, 'live.running per replica');
  }],

  [`${concurrent.length} concurrent greedy requests (text and id prompts) equal mesh-run generate`, async () => {
    const all = await Promise.all(concurrent.map((c) => client.completions.create(greedy(c))));
    all.forEach((res, k) => {
      const c = concurrent[k];
      checkEqual(res.choices.length, 1, `case ${c.i}: one choice`);
      checkGreedy(c, res.choices[0], `case ${c.i} (${JSON.stringify(c.prompt).slice(0, 40)}, max_tokens ${c.max_tokens})`);
      checkEqual(res.usage, { prompt_tokens: c.prompt_ids.length, completion_tokens: c.ids.length,
        total_tokens: c.prompt_ids.length + c.ids.length }, `case ${c.i}: usage`);
      checkEqual(res.model, MODEL, 'model');
      checkEqual(res.object, 'text_completion', 'object');
      results.set(c.i, res.choices[0]);
    });
    // Where a request covers generate's whole sequence, the texts agree too.
    for (const c of concurrent)
      if (reference[c.i].generated_ids.length <= c.max_tokens && reference[c.i].text !== undefined)
        checkEqual(results.get(c.i).text, reference[c.i].text, `case ${c.i}: text equals generate's`);
  }],

  [`${concurrent.length} concurrent requests of 64 tokens each${opts['expect-preemption'] ? ', some preempted,' : ''} equal mesh-run generate`, async () => {
    const before = (await metrics()).get('meshlm_preemptions_total');
    const all = await Promise.all(concurrent.map((c) => client.completions.create({ model: MODEL, prompt: c.prompt,
      max_tokens: 64, temperature: 0, return_token_ids: true })));
    all.forEach((res, k) => checkEqual(res.choices[0].token_ids, reference[concurrent[k].i].generated_ids,
      `case ${concurrent[k].i}: token_ids`));
    const preempted = (await waitIdle()).get('meshlm_preemptions_total') - before;
    console.log(`     ${preempted} preemptions`);
    if (opts['expect-preemption']) check(preempted > 0, 'meshlm_preemptions_total grew', preempted);
  }],

  ['streaming through the client: chunks concatenate to the non-streamed text and ids', async () => {
    for (const c of [cases[0], cases[4], cases[5]]) {
      const s = await streamText(greedy(c, { stream_options: { include_usage: true } }));
      const whole = results.get(c.i);
      checkEqual(s.text, whole.text, `case ${c.i}: streamed text`);
      checkEqual(s.ids, c.ids, `case ${c.i}: streamed token_ids`);
      checkEqual(s.finish, c.finish, `case ${c.i}: finish_reason of the last chunk`);
      check(s.usage && s.usage.completion_tokens === c.ids.length, `case ${c.i}: usage chunk`, s.usage);
    }
  }],

  ['raw SSE with curl -N: `data: {...}` events, then `data: [DONE]`', async () => {
    const c = cases[2];
    const headers = `${env.work}/sse_headers.txt`;
    const { code, stdout } = await curl(['-N', '-D', headers, '-H', 'Content-Type: application/json',
      '-d', JSON.stringify({ ...greedy(c), stream: true }), `${env.url}/v1/completions`]).done;
    check(code === 0, 'curl exits 0', code);
    check(/content-type: text\/event-stream/i.test(readFileSync(headers, 'utf8')),
      'Content-Type text/event-stream', readFileSync(headers, 'utf8'));
    const data = sseEvents(stdout);
    checkEqual(data.at(-1), '[DONE]', 'the last event');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    // How many chunks depends on timing (a chunk carries the tokens made since the last one).
    check(chunks.length >= 1, 'at least one chunk before [DONE]', data);
    for (const ch of chunks) checkEqual([ch.object, ch.model, ch.choices.length], ['text_completion', MODEL, 1], 'chunk');
    checkEqual(chunks.map((ch) => ch.choices[0].text).join(''), results.get(c.i).text, 'SSE text');
    checkEqual(chunks.flatMap((ch) => ch.choices[0].token_ids), c.ids, 'SSE token_ids');
    check(chunks.slice(0, -1).every((ch) => ch.choices[0].finish_reason === null), 'finish_reason null until the last chunk');
    checkEqual(chunks.at(-1).choices[0].finish_reason, c.finish, 'finish_reason of the last chunk');
  }],

  ['seeded sampling (temperature 0.8, seed 7) gives the same text twice', async () => {
    const params = { model: MODEL, prompt: 'Once upon a time', max_tokens: 40, temperature: 0.8, seed: 7,
      return_token_ids: true };
    const [a, b] = await Promise.all([client.completions.create(params), client.completions.create(params)]);
    const c = await client.completions.create(params);  // and once more alone
    check(a.choices[0].text.length > 0, 'non-empty text', a.choices[0]);
    checkEqual(b.choices[0].text, a.choices[0].text, 'text of the second concurrent request');
    checkEqual(c.choices[0].text, a.choices[0].text, 'text of a later request');
    checkEqual(c.choices[0].token_ids, a.choices[0].token_ids, 'token_ids');
    const s = await streamText(params);
    checkEqual(s.text, a.choices[0].text, 'streamed text with the same seed');
  }],

  ['stop strings end the text before the stop string, finish_reason "stop"', async () => {
    const c = cases[5];  // text prompt, 64 tokens
    const full = results.get(c.i).text;
    const stop = full.slice(Math.floor(full.length / 2)).match(/ \S+/)?.[0];
    check(stop, 'a word in the second half of the greedy text to stop at', full);
    const expected = full.slice(0, full.indexOf(stop));
    const res = await client.completions.create(greedy(c, { stop: [stop, 'never appears 12345'] }));
    checkEqual(res.choices[0].text, expected, `text with stop ${JSON.stringify(stop)}`);
    checkEqual(res.choices[0].finish_reason, 'stop', 'finish_reason');
    const s = await streamText(greedy(c, { stop }));
    checkEqual(s.text, expected, 'streamed text with the stop string');
    checkEqual(s.finish, 'stop', 'streamed finish_reason');
  }],

  ['stop_token_ids end the ids before the stop token', async () => {
    const c = cases[11];
    const stopId = c.ids[6];
    const res = await client.completions.create(greedy(c, { stop_token_ids: [stopId] }));
    checkEqual(res.choices[0].token_ids, c.ids.slice(0, c.ids.indexOf(stopId)), `token_ids with stop id ${stopId}`);
    checkEqual(res.choices[0].finish_reason, 'stop', 'finish_reason');
  }],

  ['logprobs: 2 gives each token its logprob and 2 top logprobs', async () => {
    const c = cases[0];
    const res = await client.completions.create(greedy(c, { logprobs: 2 }));
    const ch = res.choices[0], lp = ch.logprobs;
    checkEqual(ch.token_ids, c.ids, 'token_ids with logprobs');
    check(lp, 'choices[0].logprobs', ch);
    for (const k of ['tokens', 'token_logprobs', 'top_logprobs', 'text_offset'])
      checkEqual(lp[k]?.length, c.ids.length, `logprobs.${k} has one entry per token`);
    checkEqual(lp.tokens.join(''), ch.text, 'the tokens spell the text');
    lp.top_logprobs.forEach((top, t) => {
      const values = Object.values(top);
      checkEqual(values.length, 2, `token ${t}: top_logprobs entries`);
      check(values.every((v) => Number.isFinite(v) && v <= 0), `token ${t}: top logprobs are finite and <= 0`, top);
      check(lp.token_logprobs[t] <= 0, `token ${t}: logprob <= 0`, lp.token_logprobs[t]);
      // Greedy: the chosen token is the most likely one.
      check(Math.abs(lp.token_logprobs[t] - Math.max(...values)) < 1e-4, `token ${t}: greedy logprob is the top one`,
        { logprob: lp.token_logprobs[t], top });
    });
  }],

  ['errors: 400 (malformed JSON, wrong types, too long, n != 1) and 404, OpenAI-shaped', async () => {
    // Malformed JSON: the client cannot send it; fetch does.
    const bad = await rawFetch('/v1/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: '{"prompt": "Once", "max_tokens": ' });
    checkEqual(bad.status, 400, 'malformed JSON: status');
    checkErrorShape(bad.json, 'malformed JSON');
    const wrong = [
      [{ max_tokens: 'ten' }, 'max_tokens'],
      [{ max_tokens: 0 }, 'max_tokens'],
      [{ temperature: 'hot' }, 'temperature'],
      [{ temperature: -1 }, 'temperature'],
      [{ prompt: 5 }, 'prompt'],
      [{ prompt: [1, 'x'] }, 'prompt[1]'],
      [{ prompt: [1, 99999] }, 'prompt'],
      [{ logprobs: 21 }, 'logprobs'],
      [{ top_p: 'x' }, 'top_p'],
      [{ stop: 3 }, 'stop'],
      [{ n: 2 }, 'n'],
    ];
    for (const [fields, param] of wrong) {
      const e = await apiError(client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4, ...fields }));
      checkEqual([e.status, e.param], [400, param], `${JSON.stringify(fields)}: status and error.param`);
      check(typeof e.error?.message === 'string' && e.type, `${JSON.stringify(fields)}: message and type`, e.error);
    }
    // Prompt + max_tokens beyond seq_len 512: the message names both numbers.
    const long = await apiError(client.completions.create({ model: MODEL, prompt: Array(500).fill(7), max_tokens: 20 }));
    checkEqual([long.status, long.param], [400, 'max_tokens'], 'prompt 500 + max_tokens 20: status, param');
    check(/512/.test(long.error.message) && /520/.test(long.error.message), 'the message names 512 and 520', long.error.message);
    // 404: an unknown route (raw, and the chat route through the client) and an unknown model.
    const route = await rawFetch('/v1/nope');
    checkEqual(route.status, 404, 'GET /v1/nope: status');
    checkErrorShape(route.json, 'GET /v1/nope');
    const chat = await apiError(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }));
    checkEqual(chat.status, 404, 'POST /v1/chat/completions: status');
    const model = await apiError(client.completions.create({ model: 'gpt-4o', prompt: 'Once', max_tokens: 4 }));
    checkEqual([model.status, model.param, model.code], [404, 'model', 'model_not_found'], 'unknown model');
    check(/gpt-4o/.test(model.error.message), 'the message names the model', model.error.message);
    // The server still serves after all that.
    const ok = await client.completions.create(greedy(cases[1]));
    checkEqual(ok.choices[0].token_ids, cases[1].ids, 'a good request afterwards');
  }],

  ['a client killed mid-stream: the server goes on, and its sequence is freed', async () => {
    await waitIdle();
    const before = (await metrics()).get('meshlm_generation_tokens_total');
    const body = { model: MODEL, prompt: [1], max_tokens: 500, temperature: 0, ignore_eos: true, stream: true };
    let killedAfter = null;
    const { done } = curl(['-N', '-H', 'Content-Type: application/json', '-d', JSON.stringify(body),
      `${env.url}/v1/completions`], {
      onStdout: (out, child) => {
        if (killedAfter === null && out.includes('\n\n')) {  // the first whole chunk
          killedAfter = out.length;
          child.kill('SIGKILL');
        }
      },
    });
    const { signal } = await done;
    check(killedAfter !== null && signal === 'SIGKILL', 'curl got a chunk and was killed', { killedAfter, signal });
    // Meanwhile and afterwards the server answers.
    const health = await rawFetch('/health');
    checkEqual(health.status, 200, '/health after the kill');
    const [a, b] = await Promise.all([cases[3], cases[6]].map((c) => client.completions.create(greedy(c))));
    checkEqual(a.choices[0].token_ids, cases[3].ids, 'a request after the kill');
    checkEqual(b.choices[0].token_ids, cases[6].ids, 'another request after the kill');
    const m = await waitIdle();
    const generated = m.get('meshlm_generation_tokens_total') - before;
    const others = cases[3].ids.length + cases[6].ids.length;
    console.log(`     the killed stream got ${generated - others} of its 500 tokens before it was aborted`);
    check(generated - others < 500, 'the killed stream was aborted before its 500 tokens', generated - others);
  }],

  ['prefix cache: a second prompt sharing a 40-token prefix hits the cache, same ids as generate', async () => {
    const a = cases[PREFIX_A], b = cases[PREFIX_B];
    const hits0 = (await metrics()).get('meshlm_prefix_cache_hits_total');
    const ra = await client.completions.create(greedy(a));
    checkGreedy(a, ra.choices[0], 'first prompt');
    const rb = await client.completions.create(greedy(b));
    checkGreedy(b, rb.choices[0], 'second prompt (prefix from the cache)');
    const m = await metrics();
    const hits = m.get('meshlm_prefix_cache_hits_total') - hits0;
    check(hits >= 32, 'meshlm_prefix_cache_hits_total grew by >= 2 blocks of 16', hits);
    check(m.get('meshlm_prefix_cache_queries_total') > 0, 'meshlm_prefix_cache_queries_total > 0');
  }],

  ['metrics after everything: idle, counters and histograms', async () => {
    const m = await waitIdle();
    console.log(`     ${m.get('meshlm_generation_tokens_total')} tokens generated, ` +
      `${m.get('meshlm_preemptions_total')} preemptions, ${m.get('meshlm_prefix_cache_hits_total')} prefix-cache hit tokens`);
    checkEqual(perReplica(m, 'meshlm_kv_blocks_used'), Array(env.dp).fill(0), 'meshlm_kv_blocks_used per replica');
    checkEqual(perReplica(m, 'meshlm_num_requests_running'), Array(env.dp).fill(0), 'meshlm_num_requests_running');
    check(perReplica(m, 'meshlm_kv_blocks_free').every((x) => x > 0), 'meshlm_kv_blocks_free > 0');
    check(m.get('meshlm_requests_total{status="200"}') >= 20, 'requests_total{status="200"}', m.get('meshlm_requests_total{status="200"}'));
    check(m.get('meshlm_requests_total{status="400"}') >= 12, 'requests_total{status="400"}', m.get('meshlm_requests_total{status="400"}'));
    check(m.get('meshlm_requests_total{status="404"}') >= 3, 'requests_total{status="404"}', m.get('meshlm_requests_total{status="404"}'));
    check(m.get('meshlm_prompt_tokens_total') > 0 && m.get('meshlm_generation_tokens_total') > 0, 'token counters');
    for (const h of ['meshlm_time_to_first_token_seconds', 'meshlm_inter_token_latency_seconds', 'meshlm_step_seconds'])
      check(m.get(`${h}_count`) > 0 && m.get(`${h}_bucket{le="+Inf"}`) === m.get(`${h}_count`), `histogram ${h}`);
    const live = (await rawFetch('/v1/mesh')).json.live;
    checkEqual(live.kv_blocks_used, Array(env.dp).fill(0), '/v1/mesh live.kv_blocks_used');
    checkEqual(live.generation_tokens_total, m.get('meshlm_generation_tokens_total'), '/v1/mesh live.generation_tokens_total');
  }],
];

if (opts.shutdown)
  checks.push(['SIGTERM drains: /health and new requests get 503, the running and waiting requests complete', async () => {
    // 12 non-streamed requests of 400 tokens (more than run at once: some
    // wait), so the drain lasts long enough to watch (streams in a drain:
    // drain_checks.mjs). SIGTERM once the server holds all 12 (their 2-token
    // prompts counted in meshlm_prompt_tokens_total).
    const before = (await metrics()).get('meshlm_prompt_tokens_total');
    const inflight = Array.from({ length: 12 }, (_, k) => client.completions.create({ model: MODEL,
      prompt: [1, 300 + k], max_tokens: 400, temperature: 0, ignore_eos: true, return_token_ids: true }));
    inflight.forEach((p) => p.catch(() => {}));  // awaited below
    for (let t0 = Date.now(); (await metrics()).get('meshlm_prompt_tokens_total') < before + 24; await sleep(5))
      check(Date.now() - t0 < 10_000, 'the server takes the 12 requests within 10 s');
    process.kill(env.rank0Pid, 'SIGTERM');  // as serve_e2e.sh would: see there
    let health;
    for (let t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(20)) {
      health = await rawFetch('/health');
      if (health.status === 503) break;
    }
    checkEqual(health.status, 503, '/health while shutting down');
    const e = await apiError(client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 4 }));
    checkEqual(e.status, 503, 'a new completion while shutting down');
    check(typeof e.error?.message === 'string', 'error.message', e.error);
    const done = await Promise.all(inflight);
    checkEqual(done.map((r) => [r.choices[0].finish_reason, r.choices[0].token_ids.length]),
      Array(12).fill(['length', 400]), 'every request in flight ran to its end: [finish_reason, tokens]');
  }]);

process.exitCode = (await runChecks(checks)) ? 1 : 0;
