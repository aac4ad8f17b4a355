// Browser tests of the dashboard ("Configurar API/Webhook") and the API docs,
// in a real headless Chromium driven by playwright-core. Run them with
// scripts/browser-test.sh, which builds the binary, creates the organization
// and the user, starts the server and the webhook receiver and sets the
// environment read below. The steps run in order, one browser session
// through them all; when one fails, the ones that need its outcome are
// skipped rather than failing with confusing errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = readEnv([
  'BASE_URL', 'RECEIVER_URL', 'RECEIVER_PORT', 'RECEIVER_PID_FILE', 'RECEIVER_LOG', 'IAGENTE_MOCK_BIN',
  'FIRST_API_KEY', 'DASHBOARD_EMAIL', 'DASHBOARD_PASSWORD', 'ARTIFACTS_DIR',
]);
const BASE = env.BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WEBHOOK_URL = `http://127.0.0.1:${env.RECEIVER_PORT}/webhook`;

// The page's messages, as impl/dashboard documents them.
const MSG = {
  badLogin: 'E-mail ou senha inválidos.',
  loggedOut: 'Você saiu do painel.',
  tokenGenerated: 'Token gerado com sucesso',
  tokenCopied: 'Token copiado para a área de transferência!',
  copyFailed: 'Falha ao copiar o token.',
  urlRequired: 'Favor inserir a Url do webhook!',
  urlInvalid: 'Favor inserir uma Url válida!',
  webhookSaved: 'Dados do usuário salvo com sucesso!',
};

function readEnv(names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`missing environment: ${missing.join(', ')}; run these tests with scripts/browser-test.sh`);
  }
  return Object.fromEntries(names.map((n) => [n, process.env[n]]));
}

// --- shared state of the walk-through --------------------------------------

let browser;
let context; // the signed-in user's browser
let page;
let token; // the API token the dashboard showed last
let firstDashboardToken; // the one "Gerar Token" made, replaced by "Regerar Token"
let signingSecret;
let webhook; // as GET /api/v1/webhooks returns it
let broken = ''; // the step whose failure the later steps depend on
let current; // the page a failure screenshot shows

before(async () => {
  fs.mkdirSync(env.ARTIFACTS_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  context = await browser.newContext({ locale: 'pt-BR', viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
});

// step runs fn as a test, unless an earlier blocking step failed: the later
// steps build on its outcome. A step that nothing builds on is not blocking.
function step(name, fn, { blocking = true } = {}) {
  test(name, { timeout: 45_000 }, async (t) => {
    if (broken) {
      t.skip(`needs the outcome of "${broken}", which failed`);
      return;
    }
    current = page;
    try {
      await fn(t);
    } catch (err) {
      if (blocking) broken = name;
      await shot(current, `failure-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`).catch(() => {});
      throw err;
    }
  });
}

// --- helpers ----------------------------------------------------------------

async function shot(p, name) {
  await p.screenshot({ path: path.join(env.ARTIFACTS_DIR, `${name}.png`), fullPage: true });
}

// closeUp adds a picture of one part of a long page (the docs run to
// thousands of pixels, too small to read once scaled down).
async function closeUp(locator, name) {
  await locator.screenshot({ path: path.join(env.ARTIFACTS_DIR, `${name}-closeup.png`) });
}

// eventually polls fn until it returns a value that check accepts, and fails
// with describe(last value) when it never does.
async function eventually(fn, check, describe, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (check(last)) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(describe(last));
    await new Promise((r) => setTimeout(r, 100));
  }
}

const norm = (s) => (s ?? '').replace(/\s+/g, ' ').trim();

async function expectText(p, selector, want) {
  await eventually(
    async () => norm(await p.locator(selector).textContent({ timeout: 2_000 })),
    (got) => got === want,
    (got) => `${selector} on ${p.url()}: expected "${want}", got ${got instanceof Error ? got.message : `"${got}"`}`,
  );
}

// submit clicks a button that posts a form and waits for the page the
// server answers with; it returns the POST's response (before redirects).
async function submit(p, selector, postPath) {
  const response = p.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === postPath,
  );
  const navigated = p.waitForEvent('framenavigated', (f) => f === p.mainFrame());
  await p.click(selector);
  const r = await response;
  await navigated;
  await p.waitForLoadState('load');
  return r;
}

async function api(method, apiPath, bearer, body) {
  const headers = { Accept: 'application/json' };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${BASE}/api/v1${apiPath}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

function expectStatus(res, want, what) {
  assert.equal(res.status, want, `${what}: expected HTTP ${want}, got ${res.status}: ${res.text.slice(0, 300)}`);
}

// showJSON renders an API answer in a page of its own, for the screenshot of
// a step whose state lives in the API rather than in the dashboard.
async function showJSON(name, title, value) {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await p.setContent('<!doctype html><meta charset="utf-8"><body style="font:14px monospace;margin:16px">' +
      '<h2 style="font-family:sans-serif"></h2><pre style="white-space:pre-wrap"></pre></body>');
    await p.evaluate(([t, v]) => {
      document.querySelector('h2').textContent = t;
      document.querySelector('pre').textContent = v;
    }, [title, JSON.stringify(value, null, 2)]);
    await shot(p, name);
  } finally {
    await p.close();
  }
}

async function clipboardWriteState(p) {
  return p.evaluate(async () => (await navigator.permissions.query({ name: 'clipboard-write' })).state);
}

// --- the steps --------------------------------------------------------------

step('01 login: a wrong password is refused, the right one signs in', async () => {
  await page.goto(`${BASE}/dashboard/login`);
  await page.fill('#email', env.DASHBOARD_EMAIL);
  await page.fill('#password', 'senha-errada-123');
  let r = await submit(page, 'button[type=submit]:has-text("Entrar")', '/dashboard/login');
  assert.equal(r.status(), 401, 'a wrong password must be answered 401');
  await expectText(page, '#login-error', MSG.badLogin);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login');
  await shot(page, '01-login-bad-password');

  assert.equal(await page.inputValue('#email'), env.DASHBOARD_EMAIL, 'the e-mail should be kept after a failure');
  await page.fill('#password', env.DASHBOARD_PASSWORD);
  r = await submit(page, 'button[type=submit]:has-text("Entrar")', '/dashboard/login');
  assert.equal(r.status(), 303, 'a good sign-in must redirect');
  assert.equal(new URL(page.url()).pathname, '/dashboard/api-webhook', 'a good sign-in lands on the API/Webhook page');
  await expectText(page, 'h1', 'Configurar API/Webhook');
  // The organization's only key was revoked before the test: no token yet.
  await expectText(page, '#generate-token', 'Gerar Token');
  assert.equal(await page.inputValue('#api-token'), '', 'no token should be shown yet');
  assert.equal(await page.isDisabled('#copy-token'), true, '"Copiar" must be disabled without a full token');
  await shot(page, '02-logged-in');
});

step('02 "Gerar Token" makes a token that the API accepts', async () => {
  const first = await api('GET', '/leads', env.FIRST_API_KEY);
  expectStatus(first, 401, 'the organization\'s revoked first key');

  const r = await submit(page, '#generate-token', '/dashboard/api-webhook/token');
  assert.equal(r.status(), 200);
  await expectText(page, '#token-message', MSG.tokenGenerated);
  token = await page.getAttribute('#api-token', 'data-token');
  assert.match(token ?? '', /^sk_\w+_\S{20,}$/, `#api-token data-token should hold a full API key, got "${token}"`);
  assert.equal(await page.inputValue('#api-token'), token, 'the field shows the whole token');
  assert.equal(await page.isDisabled('#copy-token'), false, '"Copiar" is enabled once a token is shown');
  await expectText(page, '#generate-token', 'Regerar Token');
  firstDashboardToken = token;

  const leads = await api('GET', '/leads', token);
  expectStatus(leads, 200, 'GET /api/v1/leads with the generated token');
  assert.ok(Array.isArray(leads.json?.data), 'GET /leads answers a list');
  await shot(page, '03-token-generated');
});

step('03 "Copiar" copies the token when the browser allows it', async () => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  assert.equal(await clipboardWriteState(page), 'granted');
  await page.click('#copy-token');
  await expectText(page, '#token-message', MSG.tokenCopied);
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(clip, token, 'the clipboard should hold the token');
  await shot(page, '04-token-copied');
});

step('04 "Copiar" reports a failure when the browser denies the clipboard', async () => {
  // A real denial by Chromium's permission system, not a stubbed
  // navigator.clipboard: clipboard-write (the sanitized write that
  // writeText uses) is set to "denied" for this origin in this context.
  const pageCDP = await context.newCDPSession(page);
  const { targetInfo } = await pageCDP.send('Target.getTargetInfo');
  await pageCDP.detach();
  const browserCDP = await browser.newBrowserCDPSession();
  const setClipboardWrite = (setting) => browserCDP.send('Browser.setPermission', {
    permission: { name: 'clipboard-write' }, setting, origin: BASE,
    browserContextId: targetInfo.browserContextId,
  });
  try {
    await setClipboardWrite('denied');
    assert.equal(await clipboardWriteState(page), 'denied', 'the page should see clipboard-write as denied');
    // The browser itself refuses a write from this page now.
    const direct = await page.evaluate(() => navigator.clipboard.writeText('x').then(() => 'written', (e) => e.name));
    assert.equal(direct, 'NotAllowedError', 'with the permission denied, writeText must be refused');

    await page.click('#copy-token');
    await expectText(page, '#token-message', MSG.copyFailed);
    // The page leaves the token selected, ready for Ctrl+C.
    const selected = await page.evaluate(() => {
      const el = document.getElementById('api-token');
      return document.activeElement === el && el.value.slice(el.selectionStart, el.selectionEnd);
    });
    assert.equal(selected, token, 'after a failed copy the token field should be focused and selected');
    await shot(page, '05-copy-denied');

    // The denial, and nothing else, made it fail: granted again, it copies.
    await setClipboardWrite('granted');
    await page.click('#copy-token');
    await expectText(page, '#token-message', MSG.tokenCopied);
  } finally {
    await browserCDP.detach();
  }
});

step('05 "Regerar Token" replaces the token: the old one gets 401, the new one works', async () => {
  const r = await submit(page, '#generate-token', '/dashboard/api-webhook/token');
  assert.equal(r.status(), 200);
  await expectText(page, '#token-message', MSG.tokenGenerated);
  await expectText(page, '#generate-token', 'Regerar Token');
  const fresh = await page.getAttribute('#api-token', 'data-token');
  assert.match(fresh ?? '', /^sk_\w+_\S{20,}$/, `a new full token should be shown, got "${fresh}"`);
  assert.notEqual(fresh, firstDashboardToken, 'the regenerated token must differ from the old one');
  token = fresh;

  expectStatus(await api('GET', '/leads', firstDashboardToken), 401, 'GET /leads with the replaced token');
  expectStatus(await api('GET', '/leads', token), 200, 'GET /leads with the regenerated token');
  await shot(page, '06-token-regenerated');
});

step('06 the webhook URL rules, then saving the receiver\'s URL', async () => {
  // With the script running, the invalid URLs are caught in the browser:
  // no request may reach the server for them.
  let posts = 0;
  const count = (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/dashboard/api-webhook/webhook') posts++;
  };
  page.on('request', count);
  try {
    const cases = [
      ['', MSG.urlRequired, '07-webhook-empty'],
      ['ftp://x', MSG.urlInvalid, '08-webhook-ftp'],
      ['meusite.com', MSG.urlInvalid, '09-webhook-no-scheme'],
    ];
    for (const [value, message, name] of cases) {
      await page.fill('#webhook-url', value);
      await page.click('#save-webhook');
      await expectText(page, '#webhook-message', message);
      assert.equal(await page.getAttribute('#webhook-url', 'aria-invalid'), 'true', `"${value}" marks the field invalid`);
      await shot(page, name);
      // Clear the message so the next case cannot pass on a stale one.
      await page.evaluate(() => { document.getElementById('webhook-message').textContent = ''; });
    }
    assert.equal(posts, 0, 'the page\'s script should stop invalid URLs before they are sent');
  } finally {
    page.off('request', count);
  }

  await page.fill('#webhook-url', WEBHOOK_URL);
  const r = await submit(page, '#save-webhook', '/dashboard/api-webhook/webhook');
  assert.equal(r.status(), 200, 'saving a valid URL');
  await expectText(page, '#webhook-message', MSG.webhookSaved);
  assert.equal(await page.inputValue('#webhook-url'), WEBHOOK_URL, 'the saved URL is shown');
  signingSecret = await page.inputValue('#signing-secret');
  assert.match(signingSecret, /^whsec_\S+$/, 'the signing secret is shown once after creating the webhook');
  await expectText(page, '#webhook-state', 'Ativo: recebe os 10 eventos da organização.');
  await shot(page, '10-webhook-saved');
});

step('07 the saved webhook is the default one in the API, and deliveries reach it', async () => {
  const spec = await (await fetch(`${BASE}/openapi.json`)).json();
  const allEvents = spec.components.schemas.EventType.enum;
  assert.ok(allEvents.length > 0, 'the spec lists the event types');

  const list = await api('GET', '/webhooks', token);
  expectStatus(list, 200, 'GET /api/v1/webhooks');
  assert.equal(list.json.data.length, 1, `one webhook expected, got ${JSON.stringify(list.json.data)}`);
  webhook = list.json.data[0];
  assert.equal(webhook.is_default, true, 'the dashboard\'s webhook is the default one');
  assert.equal(webhook.url, WEBHOOK_URL);
  assert.equal(webhook.active, true);
  assert.deepEqual([...webhook.events].sort(), [...allEvents].sort(), 'subscribed to every event');
  await showJSON('11-webhook-in-api', 'GET /api/v1/webhooks', list.json);

  // The receiver verifies signatures: restart it with the secret the
  // dashboard showed, then cause an event.
  await restartReceiver(signingSecret);
  const lead = await api('POST', '/leads', token, { phone: '5511988887777', name: 'Lead do teste de navegador' });
  expectStatus(lead, 201, 'POST /api/v1/leads');

  const deliveries = await eventually(
    async () => (await api('GET', `/webhooks/${webhook.id}/deliveries`, token)).json,
    (j) => j?.data?.some((d) => d.event === 'lead.created' && d.status === 'succeeded'),
    (j) => `no succeeded lead.created delivery within 20 s: ${JSON.stringify(j)}`,
    20_000,
  );
  const delivery = deliveries.data.find((d) => d.event === 'lead.created' && d.status === 'succeeded');
  const last = delivery.attempts.at(-1);
  assert.equal(last?.status_code, 200, `the last attempt should be answered 200: ${JSON.stringify(last)}`);

  const events = await (await fetch(`${env.RECEIVER_URL}/_receiver/events`)).json();
  const got = events.find((e) => e.webhook_id === delivery.webhook_message_id);
  assert.ok(got, `the receiver should have accepted ${delivery.webhook_message_id}; it has ${JSON.stringify(events)}`);
  assert.equal(got.event, 'lead.created');
  assert.equal(got.event_id, delivery.event_id);
  await showJSON('12-delivery-succeeded', `GET /api/v1/webhooks/${webhook.id}/deliveries ` +
    `and the receiver's /_receiver/events`, { deliveries: deliveries.data, receiver_events: events });
}, { blocking: false });

step('08 "Documentacao da API" opens the docs; "Try it out" on GET /leads with the token gets 200', async () => {
  await page.goto(`${BASE}/dashboard/api-webhook`);
  await expectText(page, '#docs-link', 'Documentacao da API');
  assert.equal(await page.getAttribute('#docs-link', 'target'), '_blank');
  const [docs] = await Promise.all([context.waitForEvent('page'), page.click('#docs-link')]);
  current = docs; // left open on a failure, for its screenshot
  await docs.waitForLoadState('load');
  assert.equal(new URL(docs.url()).pathname, '/docs/', 'the link opens /docs/ in a new tab');
  await docs.locator('.swagger-ui .info .title').filter({ hasText: 'IAGENTE SDR' }).waitFor();
  // GET /leads, found by its path rather than by an operationId.
  const op = docs.locator('.opblock.opblock-get')
    .filter({ has: docs.locator('.opblock-summary-path[data-path="/leads"]') });
  await op.waitFor();
  await shot(docs, '13-docs-opened');

  await docs.click('.swagger-ui .auth-wrapper button.authorize');
  const dialog = docs.locator('.dialog-ux .modal-ux');
  await dialog.waitFor();
  const bearer = dialog.locator('.auth-container').filter({ hasText: 'bearerAuth' });
  await bearer.locator('input').fill(token);
  await bearer.locator('button.authorize').click();
  // Once the token is taken the section says "Authorized" and offers "Logout".
  await bearer.locator('button', { hasText: 'Logout' }).waitFor();
  await bearer.getByText('Authorized', { exact: true }).waitFor();
  await shot(docs, '14-docs-authorized');
  await closeUp(dialog, '14-docs-authorized');
  await dialog.locator('button.close-modal').click();
  await dialog.waitFor({ state: 'detached' });

  await op.locator('.opblock-summary').first().click();
  const tryOut = op.locator('button.try-out__btn');
  await tryOut.waitFor();
  // The docs start with "Try it out" on (tryItOutEnabled); click it when off.
  if (norm(await tryOut.textContent()) === 'Try it out') await tryOut.click();
  await eventually(() => tryOut.textContent(), (t) => norm(t) === 'Cancel',
    (t) => `"Try it out" should be on (its button reading "Cancel"), the button reads "${t}"`);
  const executed = docs.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/leads' &&
    r.request().method() === 'GET');
  await op.locator('button.execute').click();
  const res = await executed;
  assert.equal(res.request().headers().authorization, `Bearer ${token}`, 'Swagger UI sends the token as a bearer');
  assert.equal(res.status(), 200, 'GET /leads from the docs');
  const status = op.locator('.live-responses-table .response .response-col_status').first();
  await eventually(() => status.textContent(), (t) => norm(t) === '200',
    (t) => `the docs' response section should show 200, shows "${t}"`);
  await shot(docs, '15-docs-try-it-out-200');
  await closeUp(op.locator('.responses-wrapper .live-responses-table').first(), '15-docs-try-it-out-200');
  await docs.close();
}, { blocking: false });

step('09 "Sair" signs out, and the page asks to sign in again', async () => {
  const r = await submit(page, '#logout', '/dashboard/logout');
  assert.equal(r.status(), 303);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login');
  await expectText(page, '#login-notice', MSG.loggedOut);
  await shot(page, '16-logged-out');

  const res = await page.goto(`${BASE}/dashboard/api-webhook`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login', 'the page must send a signed-out browser to sign in');
  assert.equal(res.status(), 200);
  await page.locator('#email').waitFor();
  assert.equal(await page.locator('#token-message, #webhook-form').count(), 0, 'nothing of the page may show');
  await shot(page, '17-login-required');
});

step('10 without JavaScript the server applies the same URL rules', async () => {
  const noJS = await browser.newContext({ javaScriptEnabled: false, locale: 'pt-BR', viewport: { width: 1280, height: 900 } });
  noJS.setDefaultTimeout(10_000);
  const p = await noJS.newPage();
  current = p; // left open on a failure, for its screenshot
  await p.goto(`${BASE}/dashboard/login`);
  await p.fill('#email', env.DASHBOARD_EMAIL);
  await p.fill('#password', env.DASHBOARD_PASSWORD);
  await submit(p, 'button[type=submit]:has-text("Entrar")', '/dashboard/login');
  assert.equal(new URL(p.url()).pathname, '/dashboard/api-webhook');

  const cases = [
    ['', MSG.urlRequired, '18-nojs-webhook-empty'],
    ['ftp://x', MSG.urlInvalid, '19-nojs-webhook-ftp'],
    ['meusite.com', MSG.urlInvalid, '20-nojs-webhook-no-scheme'],
  ];
  for (const [value, message, name] of cases) {
    await p.fill('#webhook-url', value);
    // The form reaching the server at all shows the page's script is off:
    // with it, these values never leave the browser (step 06).
    const r = await submit(p, '#save-webhook', '/dashboard/api-webhook/webhook');
    assert.equal(r.status(), 422, `the server should refuse "${value}" with 422`);
    await expectText(p, '#webhook-message', message);
    assert.equal(await p.inputValue('#webhook-url'), value, 'the refused value is shown back');
    await shot(p, name);
  }
  // The refused URLs changed nothing.
  const list = await api('GET', '/webhooks', token);
  expectStatus(list, 200, 'GET /api/v1/webhooks');
  assert.deepEqual(list.json.data.map((w) => w.url), [WEBHOOK_URL], 'the saved webhook is unchanged');
  await noJS.close();
});

// --- the receiver -------------------------------------------------------------

// restartReceiver stops the receiver the script started with a stand-in
// secret and starts it again on the same port with the webhook's secret. The
// new process id goes into RECEIVER_PID_FILE, so the script stops it.
async function restartReceiver(secret) {
  const pidFile = env.RECEIVER_PID_FILE;
  const oldPid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  try {
    process.kill(oldPid, 'SIGTERM');
  } catch {
    // already gone
  }
  const control = `${env.RECEIVER_URL}/_receiver/program`;
  await eventually(() => fetch(control).then(() => 'up', () => 'down'), (s) => s === 'down',
    () => `the receiver (pid ${oldPid}) did not stop`);
  const out = fs.openSync(env.RECEIVER_LOG, 'a');
  const child = spawn(env.IAGENTE_MOCK_BIN, ['receiver', '--addr', `127.0.0.1:${env.RECEIVER_PORT}`, '--path', '/webhook'], {
    env: { ...process.env, WEBHOOK_SECRET: secret },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  child.unref();
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  await eventually(async () => {
    if (exited !== null) throw new Error(`the receiver exited with ${exited}; see ${env.RECEIVER_LOG}`);
    return (await fetch(control)).status;
  }, (s) => s === 200, (e) => `the restarted receiver did not answer: ${e?.message ?? e}`);
}
