// Graceful shutdown with streams in flight: SIGTERM to world rank 0 while
// 16 (STREAMS) streamed completions of 400 (TOKENS) tokens run; /health and new requests get 503, and
// every stream is delivered whole (all its tokens, its finish_reason, and the
// end of the stream). Run by tests/serve/serve_e2e.sh --sigterm-by-client.
import { env, client, MODEL, check, checkEqual, runChecks, rawFetch, sleep } from './lib.mjs';

const STREAMS = Number(process.env.STREAMS ?? 16), TOKENS = Number(process.env.TOKENS ?? 400);

async function consume(it, first) {
  const got = { ids: [...(first.choices[0]?.token_ids ?? [])], finish: null, error: null };
  try {
    for (let r = await it.next(); !r.done; r = await it.next()) {
      got.ids.push(...(r.value.choices[0]?.token_ids ?? []));
      got.finish = r.value.choices[0]?.finish_reason ?? got.finish;
    }
  } catch (e) {
    got.error = `${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`;
  }
  return got;
}

const checks = [
  [`SIGTERM with ${STREAMS} streams in flight: 503s, and every stream is delivered whole`, async () => {
    const iterators = await Promise.all(Array.from({ length: STREAMS }, async (_, k) => {
      const stream = await client.completions.create({ model: MODEL, prompt: [1, 300 + k], max_tokens: TOKENS,
        temperature: 0, ignore_eos: true, stream: true, return_token_ids: true });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      check(!first.done, `stream ${k}: a first chunk`);
      return [it, first.value];
    }));
    process.kill(env.rank0Pid, 'SIGTERM');
    // The 503s first, while the streams' chunks wait in their sockets
    // (reading 32 streams at once can delay a /health answer by 300 ms).
    let health;
    for (let t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(20)) {
      health = await rawFetch('/health');
      if (health.status === 503) break;
    }
    checkEqual(health.status, 503, '/health while shutting down');
    const got = await Promise.all(iterators.map(([it, first]) => consume(it, first)));
    const summary = got.map((g) => g.error ? `${g.ids.length} ids, then ${g.error}` : `${g.ids.length} ids, ${g.finish}`);
    console.log(`     streams: ${summary.join('; ')}`);
    got.forEach((g, k) => {
      checkEqual([g.error, g.ids.length, g.finish], [null, TOKENS, 'length'], `stream ${k}: [error, ids, finish_reason]`);
    });
  }],
];

process.exitCode = (await runChecks(checks)) ? 1 : 0;
