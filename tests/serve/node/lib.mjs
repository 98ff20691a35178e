// Helpers the serve end-to-end clients share (tests/serve/serve_e2e.sh runs them
// with SERVE_URL, SERVE_MESH, SERVE_MPIRUN_PID and SERVE_WORK set).
import { spawn } from 'node:child_process';
import { isDeepStrictEqual, inspect } from 'node:util';
import OpenAI from 'openai';

export const env = {
  url: need('SERVE_URL'),
  mesh: need('SERVE_MESH'),
  mpirunPid: Number(need('SERVE_MPIRUN_PID')),
  rank0Pid: Number(need('SERVE_RANK0_PID')),  // world rank 0: the HTTP server
  work: need('SERVE_WORK'),
};
const [dp, mp] = env.mesh.split('x').map(Number);
env.dp = dp;
env.mp = mp;

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run through tests/serve/serve_e2e.sh)`);
  return v;
}

// The official client, pointed at the server; no retries, so a 429 or 503 is seen as sent.
export const client = new OpenAI({
  baseURL: `${env.url}/v1`,
  apiKey: 'unused',
  maxRetries: 0,
  timeout: 120_000,
});
export const MODEL = 'stories260K';

export class CheckError extends Error {}

export function check(cond, what, detail) {
  if (!cond) throw new CheckError(detail === undefined ? what : `${what}: ${show(detail)}`);
}

export function checkEqual(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected))
    throw new CheckError(`${what}:\n    got      ${show(actual)}\n    expected ${show(expected)}`);
}

export function show(x) {
  return inspect(x, { depth: 6, breakLength: Infinity, maxArrayLength: 600, maxStringLength: 2000 });
}

// Runs named checks in order, printing each; returns the number that failed.
export async function runChecks(checks) {
  let failed = 0;
  for (const [name, fn] of checks) {
    const t0 = Date.now();
    try {
      await fn();
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      const cause = e?.cause ? `\n    cause: ${e.cause.stack ?? e.cause}` : '';
      console.log(`FAIL ${name} (${Date.now() - t0} ms): ${e instanceof CheckError ? e.message : e.stack}${cause}`);
    }
  }
  console.log(failed ? `${failed} of ${checks.length} checks failed` : `all ${checks.length} checks passed`);
  return failed;
}

// The APIError a call throws (the client's error classes: status, param, code, error).
export async function apiError(promise) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof OpenAI.APIError && e.status !== undefined) return e;
    throw e;
  }
  throw new CheckError('the call succeeded, expected an error');
}

// An OpenAI-shaped error body: {"error": {"message", "type", "param", "code"}}.
export function checkErrorShape(body, what) {
  check(body && typeof body.error === 'object', `${what}: body has an 'error' object`, body);
  const e = body.error;
  check(typeof e.message === 'string' && e.message.length > 0, `${what}: error.message`, e);
  check(typeof e.type === 'string' && e.type.length > 0, `${what}: error.type`, e);
  check('param' in e && 'code' in e, `${what}: error.param and error.code present`, e);
}

export async function rawFetch(path, init = {}) {
  const res = await fetch(env.url + path, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

// GET /metrics parsed: name{labels} -> value (labels as written, e.g. 'replica="0"').
export async function metrics() {
  const { status, text } = await rawFetch('/metrics');
  check(status === 200, 'GET /metrics is 200', status);
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    check(match, 'a Prometheus sample line', line);
    m.set(match[1] + (match[2] ?? ''), Number(match[3]));
  }
  return m;
}

// Values of a gauge per replica: [replica 0, replica 1, ...].
export function perReplica(m, name) {
  const out = [];
  for (let r = 0; m.has(`${name}{replica="${r}"}`); r++) out.push(m.get(`${name}{replica="${r}"}`));
  return out;
}

// Polls until the server is idle: nothing running or waiting, no KV block used.
export async function waitIdle(timeoutMs = 30_000) {
  const t0 = Date.now();
  for (;;) {
    const m = await metrics();
    const state = {
      running: perReplica(m, 'meshlm_num_requests_running'),
      waiting: perReplica(m, 'meshlm_num_requests_waiting'),
      kv_blocks_used: perReplica(m, 'meshlm_kv_blocks_used'),
    };
    const idle = Object.values(state).every((v) => v.length === env.dp && v.every((x) => x === 0));
    if (idle) return m;
    if (Date.now() - t0 > timeoutMs)
      throw new CheckError(`the server is not idle ${timeoutMs} ms after the last request: ${show(state)}`);
    await sleep(100);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// curl as a raw HTTP client: resolves with {code, stdout, headers} when it exits.
export function curl(args, { onStdout } = {}) {
  const child = spawn('curl', ['-sS', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    stdout += d;
    onStdout?.(stdout, child);
  });
  child.stderr.on('data', (d) => (stderr += d));
  return { child, done };
}

// Server-sent events split into their data lines; every event must be one `data: ...` line.
export function sseEvents(body) {
  const events = body.split('\n\n');
  check(events.at(-1) === '', 'the SSE body ends with a blank line', body.slice(-200));
  events.pop();
  return events.map((ev) => {
    check(/^data: [^\n]*$/.test(ev), 'each SSE event is a single `data: ...` line', ev);
    return ev.slice('data: '.length);
  });
}
