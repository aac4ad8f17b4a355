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
// The reference renders the whole API in the browser: on a busy shared
// machine that takes far longer than a form page (step 09 took 9 s alone,
// 41 s inside a make test, and once failed there with 30 s per wait).
const DOCS_TIMEOUT = 60_000;
const DOCS_STEP_TIMEOUT = 180_000;

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
  secretCopied: 'Segredo copiado para a área de transferência!',
  secretCopyFailed: 'Falha ao copiar o segredo.',
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
function step(name, fn, { blocking = true, timeout = 45_000 } = {}) {
  test(name, { timeout }, async (t) => {
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

// view pictures what the viewport shows: the reference scrolls inside its
// own panes, so a full-page picture of it would show only the first screen
// stretched.
async function view(p, name) {
  await p.screenshot({ path: path.join(env.ARTIFACTS_DIR, `${name}.png`) });
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

// withClipboardWrite sets Chromium's clipboard-write permission for this
// origin in the signed-in context (a real denial by the browser, not a
// stubbed navigator.clipboard), runs fn, and grants it again.
async function withClipboardWrite(setting, fn) {
  const pageCDP = await context.newCDPSession(page);
  const { targetInfo } = await pageCDP.send('Target.getTargetInfo');
  await pageCDP.detach();
  const browserCDP = await browser.newBrowserCDPSession();
  const set = (value) => browserCDP.send('Browser.setPermission', {
    permission: { name: 'clipboard-write' }, setting: value, origin: BASE,
    browserContextId: targetInfo.browserContextId,
  });
  try {
    await set(setting);
    await fn();
  } finally {
    await set('granted');
    await browserCDP.detach();
  }
}

// postsDuring counts the POSTs the page sends while fn runs.
async function postsDuring(p, fn) {
  let n = 0;
  const count = (req) => { if (req.method() === 'POST') n++; };
  p.on('request', count);
  try {
    await fn();
  } finally {
    p.off('request', count);
  }
  return n;
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
  assert.equal(r.status(), 303, 'the form posts and redirects (post/redirect/get)');
  assert.equal(new URL(page.url()).pathname, '/dashboard/api-webhook');
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

step('05 "Regerar Token" asks first; cancelled it changes nothing, confirmed the old token gets 401', async () => {
  // The question names the token and says what happens to it.
  await page.click('#generate-token');
  await page.locator('#regenerate-confirm').waitFor();
  const question = norm(await page.textContent('#regenerate-confirm'));
  assert.ok(question.includes(firstDashboardToken.slice(0, 16)), `the question names the current token: "${question}"`);
  assert.ok(question.includes('deixa de funcionar na mesma hora') && question.includes('401'),
    `the question says the current token stops working at once: "${question}"`);
  await shot(page, '06-regenerate-asks');

  // Cancel: nothing was posted, and the token still works.
  const cancelled = await postsDuring(page, async () => {
    await page.click('#cancel-regenerate');
    await page.waitForLoadState('load');
  });
  assert.equal(cancelled, 0, 'asking and cancelling post nothing');
  assert.equal(await page.locator('#regenerate-confirm').count(), 0);
  expectStatus(await api('GET', '/leads', firstDashboardToken), 200, 'GET /leads with the token after "Cancelar"');

  await page.click('#generate-token');
  const r = await submit(page, '#confirm-regenerate', '/dashboard/api-webhook/token');
  assert.equal(r.status(), 303);
  await expectText(page, '#token-message', MSG.tokenGenerated);
  await expectText(page, '#generate-token', 'Regerar Token');
  const fresh = await page.getAttribute('#api-token', 'data-token');
  assert.match(fresh ?? '', /^sk_\w+_\S{20,}$/, `a new full token should be shown, got "${fresh}"`);
  assert.notEqual(fresh, firstDashboardToken, 'the regenerated token must differ from the old one');
  token = fresh;

  expectStatus(await api('GET', '/leads', firstDashboardToken), 401, 'GET /leads with the replaced token');
  expectStatus(await api('GET', '/leads', token), 200, 'GET /leads with the regenerated token');
  await shot(page, '07-token-regenerated');

  // Post/redirect/get: a reload sends nothing again, and the token shown
  // once is gone.
  const reloaded = await postsDuring(page, async () => { await page.reload(); });
  assert.equal(reloaded, 0, 'reloading the page after "Regerar" must not post again');
  assert.equal(await page.getAttribute('#api-token', 'data-token'), null, 'the new token is shown once, not after a reload');
  assert.equal(await page.inputValue('#api-token'), `${token.slice(0, 16)}…`);
  expectStatus(await api('GET', '/leads', token), 200, 'the token still works after the reload');
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
      ['', MSG.urlRequired, '08-webhook-empty'],
      ['ftp://x', MSG.urlInvalid, '09-webhook-ftp'],
      ['meusite.com', MSG.urlInvalid, '10-webhook-no-scheme'],
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
  assert.equal(r.status(), 303, 'saving posts and redirects (post/redirect/get)');
  // The message survived the redirect.
  await expectText(page, '#webhook-message', MSG.webhookSaved);
  assert.equal(await page.inputValue('#webhook-url'), WEBHOOK_URL, 'the saved URL is shown');
  signingSecret = await page.inputValue('#signing-secret');
  assert.match(signingSecret, /^whsec_\S+$/, 'the signing secret is shown once after creating the webhook');
  await expectText(page, '#webhook-state', 'Ativo: recebe os 10 eventos da organização.');
  await shot(page, '11-webhook-saved');

  // The secret's "Copiar": copied when allowed, the failure when denied.
  // (Step 04's permission changes through CDP leave clipboard-read unset.)
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  await page.click('#copy-secret');
  await expectText(page, '#secret-message', MSG.secretCopied);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), signingSecret, 'the clipboard holds the secret');
  await shot(page, '12-secret-copied');
  await withClipboardWrite('denied', async () => {
    assert.equal(await clipboardWriteState(page), 'denied');
    await page.click('#copy-secret');
    await expectText(page, '#secret-message', MSG.secretCopyFailed);
    const selected = await page.evaluate(() => {
      const el = document.getElementById('signing-secret');
      return document.activeElement === el && el.value.slice(el.selectionStart, el.selectionEnd);
    });
    assert.equal(selected, signingSecret, 'after a failed copy the secret is selected, ready for Ctrl+C');
    await shot(page, '13-secret-copy-denied');
  });

  // A reload does not save again, and the secret is not shown again.
  const reloaded = await postsDuring(page, async () => { await page.reload(); });
  assert.equal(reloaded, 0, 'reloading the page after "Salvar" must not post again');
  assert.equal(await page.locator('#signing-secret').count(), 0, 'the signing secret is shown once');
  assert.equal(norm(await page.textContent('#webhook-message')), '', 'the message was for that one answer');
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
  await showJSON('14-webhook-in-api', 'GET /api/v1/webhooks', list.json);

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
  await showJSON('15-delivery-succeeded', `GET /api/v1/webhooks/${webhook.id}/deliveries ` +
    `and the receiver's /_receiver/events`, { deliveries: deliveries.data, receiver_events: events });
}, { blocking: false });

step('07b "Reenviar" sends again what failed while the receiver was down', async () => {
  assert.ok(webhook, 'needs the webhook of step 07');
  // One attempt a delivery, and the receiver answers the next one 503:
  // the delivery fails for good, as after an outage.
  expectStatus(await api('PATCH', `/webhooks/${webhook.id}`, token, { max_attempts: 1 }), 200, 'PATCH max_attempts');
  const program = await fetch(`${env.RECEIVER_URL}/_receiver/program`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ fail_next: 1, status: 503 }),
  });
  assert.equal(program.status, 200, 'the receiver takes the program');
  const lead = await api('POST', '/leads', token, { phone: '5511988886666', name: 'Lead durante a queda' });
  expectStatus(lead, 201, 'POST /api/v1/leads');
  const isOurs = (d) => d.event === 'lead.created' && d.attempts.length > 0;
  const failed = await eventually(
    async () => (await api('GET', `/webhooks/${webhook.id}/deliveries?status=failed`, token)).json,
    (j) => j?.data?.some(isOurs),
    (j) => `no failed lead.created delivery within 20 s: ${JSON.stringify(j)}`,
    20_000,
  );
  const delivery = failed.data.find(isOurs);

  await page.goto(`${BASE}/dashboard/api-webhook`);
  // The card's "Entregas" lists the failure, with why (and what the
  // receiver answered, as the API's log keeps it) and its webhook-id,
  // before anything is sent again.
  assert.equal(norm(await page.textContent('#deliveries-failed')), '1 entrega falhou nos últimos 30 dias:');
  const row = (await page.$$eval('#failed-deliveries tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()))))[0];
  const answer = delivery.attempts.at(-1).response_body;
  assert.ok(answer && answer.includes('failing on purpose'), `the log keeps the receiver's answer: ${JSON.stringify(delivery)}`);
  assert.deepEqual(row.slice(1), ['lead.created', `HTTP 5031 tentativa${norm(answer)}`, delivery.webhook_message_id, 'Reenviar'],
    `the failure's row (its reason, its attempts, the receiver's answer): ${JSON.stringify(row)}`);
  assert.equal(norm(await page.textContent('#failed-deliveries tbody tr td.reason .answer')), norm(answer),
    'the answer in its own line');
  assert.match(row[0], /^\d{2}\/\d{2}\/\d{4} às \d{2}:\d{2}$/, 'its time as the page\'s readers write it');
  await shot(page, '15b-failed-deliveries');
  await page.selectOption('#redeliver-period', '24h');
  await page.click('#redeliver-failed');
  await page.waitForURL(/\/dashboard\/api-webhook/);
  assert.equal(norm(await page.textContent('#webhook-message')), '1 entrega reenviada.');
  await shot(page, '16-redelivered');

  const again = await eventually(
    async () => (await api('GET', `/webhooks/${webhook.id}/deliveries`, token)).json,
    (j) => j?.data?.some((d) => d.id === delivery.id && d.status === 'succeeded' && d.attempts.length === 2),
    (j) => `delivery ${delivery.id} did not succeed on its second attempt within 20 s: ${JSON.stringify(j)}`,
    20_000,
  );
  const d = again.data.find((x) => x.id === delivery.id);
  assert.equal(d.webhook_message_id, delivery.webhook_message_id, 'the same webhook-id');
  assert.equal(d.attempts[1].status_code, 200);
  expectStatus(await api('PATCH', `/webhooks/${webhook.id}`, token, { max_attempts: 8 }), 200, 'PATCH max_attempts back');
}, { blocking: false });

step('08 the help links lead to our own pages: the guide\'s two parts, and the favicon is ours', async () => {
  await page.goto(`${BASE}/dashboard/api-webhook`);
  // The page is the product's: its header, and the icon the browser asks for.
  await page.locator('header.topbar .brand').waitFor();
  assert.equal(await page.getAttribute('link[rel=icon]', 'href'), '/favicon.svg');
  const icon = await fetch(`${BASE}/favicon.ico`);
  assert.equal(icon.status, 200, 'GET /favicon.ico');
  assert.equal(icon.headers.get('content-type'), 'image/x-icon');
  assert.deepEqual([...new Uint8Array(await icon.arrayBuffer()).slice(0, 4)], [0, 0, 1, 0], 'an .ico file');
  await closeUp(page.locator('header.topbar'), '16-product-header');

  await expectText(page, '#help-how-to', 'Wiki (Como integrar)');
  await page.click('#help-how-to');
  await page.waitForLoadState('load');
  const how = new URL(page.url());
  assert.equal(how.pathname + how.hash, '/dashboard/como-integrar#como-integrar');
  await expectText(page, 'h1', 'Como integrar');
  // Its examples are the reference's tested samples.
  assert.match(norm(await page.textContent('#sample-list-leads')), /^curl -X GET "https:\/\/lp\.webpro\.com\.br\/api\/v1\/leads"/);
  await shot(page, '17-guide');

  await page.goto(`${BASE}/dashboard/api-webhook`);
  await expectText(page, '#help-how-it-works', 'API e Webhook (como funciona)');
  await page.click('#help-how-it-works');
  await page.waitForLoadState('load');
  const works = new URL(page.url());
  assert.equal(works.pathname + works.hash, '/dashboard/como-integrar#como-funciona');
  await page.locator('#como-funciona').waitFor();
  // Public: a signed-out browser reads it too.
  const anon = await browser.newContext();
  try {
    const res = await (await anon.newPage()).goto(`${BASE}/dashboard/como-integrar`);
    assert.equal(res.status(), 200, 'the guide without a session');
  } finally {
    await anon.close();
  }
}, { blocking: false });

step('09 "Documentacao da API" opens the reference: search, REST and events, samples in five languages, nothing from elsewhere', async () => {
  await page.goto(`${BASE}/dashboard/api-webhook`);
  await expectText(page, '#docs-link', 'Documentacao da API');
  assert.equal(await page.getAttribute('#docs-link', 'target'), '_blank');
  const origin = new URL(BASE).origin;
  const foreign = [];
  const watch = (req) => {
    const u = new URL(req.url());
    if (!['data:', 'blob:'].includes(u.protocol) && u.origin !== origin) foreign.push(req.url());
  };
  context.on('request', watch);
  try {
    const [docs] = await Promise.all([context.waitForEvent('page'), page.click('#docs-link')]);
    current = docs; // left open on a failure, for its screenshot
    docs.setDefaultTimeout(DOCS_TIMEOUT);
    await docs.waitForLoadState('load');
    assert.equal(new URL(docs.url()).pathname, '/docs/', 'the link opens /docs/ in a new tab');
    await docs.getByRole('heading', { name: 'IAGENTE SDR REST API' }).waitFor();
    await docs.locator('.references-sidebar').getByText('Webhook events', { exact: true }).first().waitFor();
    await view(docs, '18-docs-opened');

    // Search finds REST operations and events alike.
    await docs.keyboard.press('Control+k');
    // (The dialog element itself is a zero-size wrapper: wait for what is in it.)
    const search = docs.getByRole('dialog', { name: 'Search' });
    await search.waitFor({ state: 'attached' });
    await docs.keyboard.type('lead');
    await search.getByText('Create lead').first().waitFor();
    await search.getByText('A lead was created').first().waitFor();
    await view(docs, '19-docs-search');
    await docs.keyboard.press('Escape');
    await search.waitFor({ state: 'detached' });

    // An event, with the spec's realistic example.
    await docs.goto(`${BASE}/docs/webhooks/`);
    assert.equal(new URL(docs.url()).hash, '#tag/webhook-events', '/docs/webhooks/ leads to the events');
    const event = docs.locator('section[id$="webhook/POST/lead.created"]');
    await docs.locator('.references-sidebar').getByText('A lead was created', { exact: true }).first().click();
    await event.getByText('"Maria Santos"').first().waitFor();
    assert.ok((await event.textContent()).includes('maria@empresa.com'), 'the event shows the spec\'s example');
    await event.scrollIntoViewIfNeeded();
    await view(docs, '20-docs-event');

    // Every operation has the samples, in the reference's five languages.
    await docs.goto(`${BASE}/docs/#tag/leads/POST/leads`);
    const op = docs.locator('section[id$="tag/leads/POST/leads"]');
    const picker = op.locator('[data-testid=client-picker]');
    await picker.waitFor();
    assert.equal(norm(await picker.textContent()), 'curl');
    await picker.click();
    const options = docs.getByRole('option');
    await options.first().waitFor();
    const names = (await options.allTextContents()).map(norm);
    for (const want of ['curl', 'Python', 'Node.js', 'PHP', 'C#']) {
      assert.ok(names.includes(want), `the samples' languages ${JSON.stringify(names)} lack ${want}`);
    }
    await docs.getByRole('option', { name: 'PHP' }).click();
    await op.getByText('curl_setopt_array').first().waitFor();
    await op.locator('.request-card').scrollIntoViewIfNeeded();
    await view(docs, '21-docs-samples-php');
    await closeUp(op.locator('.request-card'), '21-docs-samples-php');
    await docs.close();
  } finally {
    context.off('request', watch);
  }
  assert.deepEqual(foreign, [], 'the reference loaded something from another host');
}, { blocking: false, timeout: DOCS_STEP_TIMEOUT });

step('10 the reference\'s "Test Request" calls this server with the token, which lasts as long as the tab', async () => {
  const docs = await context.newPage();
  current = docs;
  docs.setDefaultTimeout(DOCS_TIMEOUT);
  try {
    await docs.goto(`${BASE}/docs/`);
    await docs.getByRole('heading', { name: 'IAGENTE SDR REST API' }).waitFor();
    await docs.getByPlaceholder('Token').first().fill(token);
    await docs.goto(`${BASE}/docs/#tag/leads/GET/leads`);
    const op = docs.locator('section[id$="tag/leads/GET/leads"]');
    await op.locator('.show-api-client-button').click();
    const send = docs.getByRole('button', { name: /^Send/ }).first();
    await send.waitFor();
    const executed = docs.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/leads' &&
      r.request().method() === 'GET');
    await send.click();
    const res = await executed;
    assert.equal(new URL(res.url()).origin, new URL(BASE).origin, 'try-it calls this server, no proxy');
    assert.equal(res.request().headers().authorization, `Bearer ${token}`, 'the token is sent as a bearer');
    assert.equal(res.status(), 200, 'GET /leads from the reference');
    await docs.getByText('200 OK').first().waitFor();
    await view(docs, '22-docs-try-it-200');

    // A reload keeps the token; it is in this tab's sessionStorage and
    // nowhere that outlives the tab.
    await docs.goto(`${BASE}/docs/`);
    await docs.getByRole('heading', { name: 'IAGENTE SDR REST API' }).waitFor();
    await eventually(() => docs.getByPlaceholder('Token').first().inputValue(), (v) => v === token,
      (v) => `after a reload the token field holds "${v}"`);
    const stored = await docs.evaluate(() => ({
      local: Object.keys(localStorage).filter((k) => k.startsWith('scalar-reference-auth')),
      session: Object.keys(sessionStorage).filter((k) => k.startsWith('scalar-reference-auth')),
    }));
    assert.deepEqual(stored.local, [], 'the token must not be in localStorage');
    assert.equal(stored.session.length, 1, 'the token is kept in the tab\'s sessionStorage');
  } finally {
    await docs.close();
  }
  // Another tab starts without it.
  const other = await context.newPage();
  current = other;
  other.setDefaultTimeout(DOCS_TIMEOUT);
  try {
    await other.goto(`${BASE}/docs/`);
    await other.getByRole('heading', { name: 'IAGENTE SDR REST API' }).waitFor();
    assert.equal(await other.getByPlaceholder('Token').first().inputValue(), '', 'a new tab has no token');
  } finally {
    await other.close();
  }
}, { blocking: false, timeout: DOCS_STEP_TIMEOUT });

step('11 "Sair" signs out, and the page asks to sign in again', async () => {
  const r = await submit(page, '#logout', '/dashboard/logout');
  assert.equal(r.status(), 303);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login');
  await expectText(page, '#login-notice', MSG.loggedOut);
  await shot(page, '23-logged-out');

  const res = await page.goto(`${BASE}/dashboard/api-webhook`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login', 'the page must send a signed-out browser to sign in');
  assert.equal(res.status(), 200);
  await page.locator('#email').waitFor();
  assert.equal(await page.locator('#token-message, #webhook-form').count(), 0, 'nothing of the page may show');
  await shot(page, '24-login-required');
});

step('12 without JavaScript the server applies the same URL rules', async () => {
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
    ['', MSG.urlRequired, '25-nojs-webhook-empty'],
    ['ftp://x', MSG.urlInvalid, '26-nojs-webhook-ftp'],
    ['meusite.com', MSG.urlInvalid, '27-nojs-webhook-no-scheme'],
  ];
  for (const [value, message, name] of cases) {
    await p.fill('#webhook-url', value);
    // The form reaching the server at all shows the page's script is off:
    // with it, these values never leave the browser (step 06).
    const r = await submit(p, '#save-webhook', '/dashboard/api-webhook/webhook');
    assert.equal(r.status(), 303, `the server refuses "${value}" and redirects back to the page`);
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
