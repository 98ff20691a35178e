// The web page of `mesh-run serve` in headless Debian chromium, driven by
// playwright-core: the mesh grid shows every device, a prompt typed and
// generated streams into #out, and the text equals the greedy completion the
// API gives for the page's defaults (max_tokens 64, temperature 0).
// Run by tests/serve/serve_e2e.sh:
//   node browser_check.mjs --screenshot build/tests/serve/page.png
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { env, client, MODEL, check, checkEqual, runChecks } from './lib.mjs';

const { values: opts } = parseArgs({
  options: {
    screenshot: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const PROMPT = 'Tom and his dog';

check(existsSync(opts.chromium), `${opts.chromium} exists (scripts/setup installs Debian's chromium)`);
// Chromium's sandbox does not run as root: playwright passes --no-sandbox
// (chromiumSandbox is false by default); say so explicitly.
const browser = await chromium.launch({ executablePath: opts.chromium, args: ['--no-sandbox'], timeout: 60_000 });
let failed;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.setDefaultTimeout(60_000);

  failed = await runChecks([
    ['GET / loads; the mesh grid shows every device', async () => {
      const res = await page.goto(env.url + '/');
      checkEqual(res.status(), 200, 'GET / status');
      const devices = env.dp * env.mp;
      await page.waitForFunction((n) => document.querySelectorAll('#mesh .dev').length === n, devices);
      const labels = await page.locator('#mesh .dev b').allTextContents();
      checkEqual(labels, Array.from({ length: devices },
        (_, r) => `device ${r} (dp ${Math.floor(r / env.mp)}, mp ${r % env.mp})`), 'device labels');
      const model = await page.locator('#model').textContent();
      check(model.includes(`${MODEL} on mesh ${env.mesh} (${devices} devices`), '#model names the model and mesh', model);
      checkEqual(await page.locator('#max').inputValue(), '64', 'default max_tokens');
      checkEqual(await page.locator('#temp').inputValue(), '0', 'default temperature');
    }],
    ['type a prompt, click #go: the streamed text equals the API\'s greedy completion', async () => {
      await page.locator('#prompt').fill('');
      await page.locator('#prompt').pressSequentially(PROMPT);
      await page.locator('#go').click();
      await page.locator('#out[data-done="1"]').waitFor();
      const shown = await page.locator('#out').textContent();
      check(shown.length > 0, '#out is not empty');
      const api = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 64, temperature: 0 });
      checkEqual(shown, api.choices[0].text, '#out text equals the API completion');
      // Throughput and token counters updated by the page's refresh (every second).
      await page.waitForFunction(() => /generated [1-9]/.test(document.querySelector('#stats').textContent));
      if (opts.screenshot) {
        await page.screenshot({ path: opts.screenshot, fullPage: true });
        console.log(`     screenshot: ${opts.screenshot}`);
      }
      checkEqual(pageErrors, [], 'no JavaScript errors on the page');
    }],
  ]);
} finally {
  await browser.close();
}
process.exitCode = failed ? 1 : 0;
