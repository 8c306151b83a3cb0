'use strict';
/* global document */ // (in functions that run in the page)
// The first-run pages in headless Chromium (Debian's, driven by
// playwright-core): the demo page's two panes join locally and through the
// relay, every message shows the path it came in by, the state line shows
// the relay's live state; the emulator's dashboard shows the listener, the
// relayed connections and the traffic, never a key or token. Fails, never
// skips, without Chromium. Screenshots go to $HYCO_SCREENSHOTS when set
// (kept, to look at), else to a temporary folder removed afterwards.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const hyco = require('hyco-websocket');
const { startLocalRelay } = require('../local-relay');
const { startHybrid } = require('../hybrid');

const { launch, screenshotDir } = require('hyco-test-support/browser');

test('the demo page joins locally and through the relay side by side; the dashboard shows the relay live; no key or token on either', async (t) => {
  const { relay, connectionString, senderConnectionString } = await startLocalRelay({ port: 0 });
  t.after(() => relay.close());
  const settings = hyco.parseConnectionString(connectionString);
  const dashboardUrl = `http://127.0.0.1:${relay.port}/`;
  const app = await startHybrid({ settings, senderSettings: hyco.parseConnectionString(senderConnectionString), path: 'chat', httpPort: 0, dashboardUrl });
  t.after(() => app.close());
  const context = await launch(t);
  const shots = screenshotDir(t);

  // The demo page: both panes connect, each its own way.
  const page = await context.newPage();
  await page.goto(app.pageUrl);
  await page.waitForSelector('#pane-local .status.online');
  await page.waitForSelector('#pane-relay .status.online');
  assert.match(await page.textContent('#pane-relay .status'), /through the relay/);
  assert.match(await page.textContent('#pane-local .status'), /locally/);
  // A second page joins through the relay only.
  const second = await context.newPage();
  await second.goto(`${app.pageUrl}?pane=relay`);
  await second.waitForSelector('#pane-relay .status.online');
  assert.equal(await second.isVisible('#pane-local'), false);

  // A message sent locally and one sent through the relay reach every pane, marked with their path.
  await page.fill('#pane-local input', 'hello by the local path');
  await page.click('#pane-local button');
  await page.fill('#pane-relay input', 'hello through the relay');
  await page.click('#pane-relay button');
  for (const pane of ['#pane-local', '#pane-relay']) {
    await page.waitForSelector(`${pane} li:has-text("hello by the local path") .via.local`);
    await page.waitForSelector(`${pane} li:has-text("hello through the relay") .via.relay`);
  }
  await second.waitForSelector('#pane-relay li:has-text("hello by the local path") .via.local');
  await second.waitForSelector('#pane-relay li:has-text("hello through the relay") .via.relay');

  // The state line: the listener online, who is connected which way, the dashboard link.
  await page.waitForFunction(() => document.getElementById('count-relay').textContent === '2');
  assert.equal(await page.textContent('#relay-online'), 'listener online');
  assert.equal(await page.textContent('#count-local'), '1');
  assert.match(await page.textContent('#relay-where'), /hybrid connection "chat"/);
  assert.equal(await page.getAttribute('#dashboard a', 'href'), dashboardUrl);
  await page.screenshot({ path: path.join(shots, 'demo.png') });

  // The emulator's dashboard, live.
  const dashboard = await context.newPage();
  await dashboard.goto(dashboardUrl);
  await dashboard.waitForSelector('#state.live');
  await dashboard.waitForFunction(() => [...document.querySelectorAll('#hcs td')].some((td) => td.textContent === 'chat'));
  await dashboard.waitForFunction(() => document.querySelectorAll('#connections tr').length >= 2);
  const totals = await dashboard.textContent('#totals');
  assert.match(totals, /2\s*relayed connections/);
  assert.match(totals, /1\s*listeners online/);
  const messages = Number(await dashboard.textContent('[data-total="messages relayed"] b'));
  assert.ok(messages >= 4, `messages relayed: ${messages}`);
  assert.match(await dashboard.textContent('#activity'), /sender-accepted/);
  // It updates by itself: one more message shows up without a reload.
  await page.fill('#pane-relay input', 'one more');
  await page.click('#pane-relay button');
  await dashboard.waitForFunction((before) => Number(document.querySelector('[data-total="messages relayed"] b').textContent) > before, messages);
  await dashboard.screenshot({ path: path.join(shots, 'dashboard.png'), fullPage: true });

  for (const p of [page, second, dashboard]) {
    const text = await p.textContent('body');
    const html = await p.content();
    for (const secret of [settings.sharedAccessKey, hyco.parseConnectionString(senderConnectionString).sharedAccessKey]) {
      assert.equal(text.includes(secret) || html.includes(secret), false, 'a key is on a page');
    }
    assert.doesNotMatch(text, /SharedAccessSignature|sig=/, 'a token is on a page');
  }
  for (const file of ['demo.png', 'dashboard.png']) assert.ok(fs.statSync(path.join(shots, file)).size > 10000, `${file} was written`);
  t.diagnostic(`screenshots: ${shots}`);
});
