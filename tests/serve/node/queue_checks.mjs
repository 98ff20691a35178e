// 429 from `mesh-run serve --max-queue 1 --max-num-seqs 1`: of several long
// requests sent at once, one runs, one may wait, the others are refused with
// an OpenAI-shaped rate-limit error; the admitted ones complete, and the
// server is idle afterwards. Run by tests/serve/serve_e2e.sh.
import { client, MODEL, check, checkEqual, runChecks, waitIdle, metrics } from './lib.mjs';
import OpenAI from 'openai';

const N = 6;

const checks = [
  [`${N} long requests at once with --max-queue 1: at least one gets 429`, async () => {
    const params = { model: MODEL, prompt: [1], max_tokens: 300, temperature: 0, ignore_eos: true };
    const settled = await Promise.allSettled(Array.from({ length: N }, () => client.completions.create(params)));
    const ok = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value);
    const refused = settled.filter((s) => s.status === 'rejected').map((s) => s.reason);
    for (const e of refused) {
      check(e instanceof OpenAI.RateLimitError, 'every failure is a RateLimitError (429)', String(e));
      checkEqual([e.status, e.type], [429, 'rate_limit_error'], 'status and error.type');
      check(/queue is full/.test(e.error?.message), 'the message says the queue is full', e.error);
    }
    console.log(`     ${ok.length} admitted, ${refused.length} refused with 429`);
    check(refused.length >= 1, 'at least one 429', refused.length);
    check(ok.length >= 1, 'at least one admitted', ok.length);
    for (const r of ok) {
      checkEqual(r.choices[0].finish_reason, 'length', 'an admitted request runs to max_tokens');
      checkEqual(r.usage.completion_tokens, 300, 'completion_tokens');
    }
    // The same greedy request gives the same text every time.
    check(ok.every((r) => r.choices[0].text === ok[0].choices[0].text), 'admitted requests give the same text');
    const m = await waitIdle();
    checkEqual(m.get('meshlm_requests_total{status="429"}'), refused.length, 'meshlm_requests_total{status="429"}');
  }],
  ['after the burst the server admits again', async () => {
    const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    check(r.choices[0].text.length > 0, 'a completion', r.choices[0]);
    await waitIdle();
    check((await metrics()).get('meshlm_requests_total{status="200"}') >= 2, 'requests_total{status="200"}');
  }],
];

process.exitCode = (await runChecks(checks)) ? 1 : 0;
