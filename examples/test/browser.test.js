'use strict';
// The demo page in headless Chromium (Debian's, driven by playwright-core):
// a message sent through the relay is echoed to the sender and broadcast to
// a second page and to a local client. Fails, never skips, without Chromium.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const hyco = require('hyco-websocket');
const { startLocalRelay } = require('../local-relay');
const { relayConfig } = require('../relay-config');
const { startHybrid } = require('../hybrid');

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

async function launch(t) {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is required for this test and was not found at ${CHROMIUM} (apt-get install -y chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
  t.after(async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

test('the chat page joins through the relay; messages are echoed, broadcast to a second page and to local clients', async (t) => {
  const { relay, connectionString } = await startLocalRelay({ port: 0 });
  t.after(() => relay.close());
  const { settings } = relayConfig(['--connection-string', connectionString]);
  const app = await startHybrid({ settings, path: 'chat', httpPort: 0 });
  t.after(() => app.close());
  const context = await launch(t);

  const first = await context.newPage();
  await first.goto(app.pageUrl);
  await first.waitForSelector('#status.online');
  assert.match(await first.textContent('#status'), /connected through the relay/);
  const second = await context.newPage();
  await second.goto(app.pageUrl);
  await second.waitForSelector('#status.online');

  const local = new hyco.client();
  const localConnected = new Promise((resolve) => local.once('connect', resolve));
  local.connect(app.localUri);
  const localConnection = await localConnected;
  t.after(() => localConnection.drop());
  const localHeard = new Promise((resolve) =>
    localConnection.on('message', (m) => {
      const message = JSON.parse(m.utf8Data);
      if (message.text) resolve(message);
    }),
  );

  await first.fill('#text', 'hello from the browser');
  await first.click('#send');
  await first.waitForSelector('#log li:has-text("hello from the browser")');
  await second.waitForSelector('#log li:has-text("hello from the browser")');
  const heard = await localHeard;
  assert.equal(heard.text, 'hello from the browser');
  assert.equal(heard.via, 'relay');
  assert.equal(relay.stats().hybridConnections.find((h) => h.path === 'chat').relayedConnections, 2);

  const shotDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-screenshot-'));
  const shot = path.join(shotDir, 'chat.png');
  await second.screenshot({ path: shot });
  assert.ok(fs.statSync(shot).size > 1000, 'a screenshot was written');
  process.stdout.write(`# screenshot: ${shot}\n`);
});
