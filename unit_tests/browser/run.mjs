// The browser test: headless Chromium (Debian's, driven by playwright-core) loads page.html from a static server on
// one origin, and the page calls a shopping-cart node on another origin over HTTP/JSON and gRPC-web, so CORS is
// exercised for real. Prints "browser ok" when everything the page shows is right; every wait is bounded.
//   node run.mjs <shopping-cart binary> <playwright-core dir> [chromium path]
import {spawn} from 'node:child_process';
import {createServer} from 'node:http';
import {mkdtempSync, readFileSync, existsSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, dirname} from 'node:path';
import {fileURLToPath} from 'node:url';
import {createRequire} from 'node:module';

const [binary, playwrightDir, chromiumPath = '/usr/bin/chromium'] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const deadline = Date.now() + 90_000;
const fail = (message) => { console.error('browser test failed: ' + message); process.exitCode = 1; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const page = readFileSync(join(here, 'page.html'));
const server = createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
  res.end(page);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const pageOrigin = `http://127.0.0.1:${server.address().port}`;

const work = mkdtempSync(join(tmpdir(), 'actorstate-browser-'));
const portFile = join(work, 'port');
const node = spawn(binary, ['--port', '0', '--management-port', '0', '--port-file', portFile, '--store', 'memory',
                            '--cors-allow-origin', pageOrigin], {stdio: ['ignore', 'inherit', 'inherit']});
let browser;
try {
  while (!existsSync(portFile) || readFileSync(portFile, 'utf8').trim() === '') {
    if (Date.now() > deadline || node.exitCode !== null) throw new Error('the node did not start');
    await sleep(50);
  }
  const api = `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`;
  const {chromium} = createRequire(join(playwrightDir, 'package.json'))('playwright-core');
  browser = await chromium.launch({
    executablePath: chromiumPath,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const tab = await browser.newPage();
  tab.on('console', (m) => console.log('page: ' + m.text()));
  await tab.goto(`${pageOrigin}/?api=${encodeURIComponent(api)}&user=browser`, {timeout: 30_000});
  await tab.waitForFunction(() => document.title === 'done', null, {timeout: Math.max(1000, deadline - Date.now())});
  const result = JSON.parse(await tab.textContent('#result'));
  console.log('page result: ' + JSON.stringify(result));
  const expected = {
    jsonAdd: '200 {}',
    jsonCart: 'J1 Jam 2',
    jsonFailure: '500 Cannot add negative quantity to item J2',
    grpcWebAdd: 'status 0',
    grpcWebCart: 'status 0: J1 Jam 2; G1 Glue 3',
    grpcWebFailure: 'status 2: Cannot add negative quantity to item G2',
  };
  for (const [key, value] of Object.entries(expected))
    if (result[key] !== value) fail(`${key}: expected ${JSON.stringify(value)}, got ${JSON.stringify(result[key])}`);
  if (process.exitCode !== 1) console.log('browser ok');
} catch (e) {
  fail(e.stack || String(e));
} finally {
  if (browser) await browser.close().catch(() => {});
  node.kill('SIGKILL');
  server.close();
  rmSync(work, {recursive: true, force: true});
}
