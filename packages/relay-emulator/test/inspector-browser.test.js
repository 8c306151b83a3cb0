'use strict';
/* global document, Image */ // (in functions that run in the page)
// The dashboard's inspector tabs in headless Chromium (Debian's, driven by
// playwright-core): the Requests tab shows a request as it happens, its
// detail, and replays it with one click; the page stays readable at 420
// and 1920 px (screenshots checked not blank). Fails, never skips, without
// Chromium. Screenshots go to $HYCO_SCREENSHOTS when set (kept), else to a
// temporary folder removed afterwards.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { createRelayHttpsUri } = require('hyco-websocket');
const { startRelay, token, listen, sendWs, onceOrError } = require('hyco-test-support');
const { httpListener, request } = require('./inspector-helpers');

const { launch, screenshotDir } = require('hyco-test-support/browser');

/** How varied a screenshot is: decoded in the browser, the share of pixels unlike the first one and the number of distinct colours sampled. */
async function pixelVariety(context, png) {
  const page = await context.newPage();
  try {
    await page.setContent('<canvas id="c"></canvas>');
    return await page.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.getElementById('c');
      canvas.width = img.width;
      canvas.height = img.height;
      const g = canvas.getContext('2d');
      g.drawImage(img, 0, 0);
      const data = g.getImageData(0, 0, img.width, img.height).data;
      const colours = new Set();
      let differing = 0;
      let samples = 0;
      for (let i = 0; i < data.length; i += 4 * 7) {
        samples++;
        const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        colours.add(rgb);
        if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2]) differing++;
      }
      return { width: img.width, colours: colours.size, differing: differing / samples };
    }, png.toString('base64'));
  } finally {
    await page.close();
  }
}

test('the Requests tab shows a request as it happens, its redacted detail and body, replays it with one click; the Connections tab shows a relayed connection and its first messages; readable at 420 and 1920 px', async (t) => {
  const relay = await startRelay(t, { captureBodies: true, hybridConnections: ['echo', 'chat'] });
  const channel = await httpListener(t, relay, 'echo', (req, body) => ({ status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ got: body.toString(), n: 1 }) }));
  const context = await launch(t, { width: 1920, height: 1000 });
  const shots = screenshotDir(t);
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${relay.port}/#requests`);
  await page.waitForSelector('#state.live');
  assert.equal(await page.isVisible('#tab-requests'), true, 'the Requests tab opens from the address');
  await page.waitForSelector('#requests td.empty');

  // A request arrives: it shows without a reload.
  const secret = token('echo');
  await request(`${createRelayHttpsUri(relay.endpoint, 'echo')}/orders/42?tag=blue`, { method: 'POST', body: '{"item":"tea"}', headers: { ServiceBusAuthorization: secret, 'Content-Type': 'application/json', Cookie: 'sid=COOKIE-SECRET' } });
  const row = page.locator('#requests tr[data-id]').first();
  await row.waitFor();
  assert.match(await row.textContent(), /POST.*\/echo\/orders\/42\?tag=blue.*200.*complete/);
  assert.match(await row.locator('td.time').textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, 'times carry dates');

  // Its detail: headers redacted, body as JSON.
  await row.click();
  await page.waitForSelector('#detail:not([hidden])');
  const detail = await page.textContent('#detail');
  assert.match(detail, /\[redacted\]/);
  assert.ok(!detail.includes('COOKIE-SECRET') && !detail.includes(secret), 'no secret in the page');
  await page.click('#detail button:has-text("JSON")');
  assert.match(await page.textContent('#detail pre.body'), /\{\n {2}"item": "tea"\n\}/);
  await page.click('#detail button:has-text("hex")');
  assert.match(await page.textContent('#detail pre.body'), /^00000000 {2}7b 22 69 74/);

  // Replay: the listener gets it again, and the replay appears, marked.
  await page.click('#replay');
  await page.waitForSelector('#requests tr[data-id] .tag');
  assert.equal(channel.requests.length, 2);
  assert.equal(channel.requests[1].body.toString(), '{"item":"tea"}');
  assert.equal(await page.locator('#requests tr[data-id]').count(), 2);
  assert.match(await page.locator('#requests tr[data-id]').first().textContent(), /replay/);
  // The filter narrows to replays.
  await page.selectOption('#req-status', 'replay');
  assert.equal(await page.locator('#requests tr[data-id]').count(), 1);
  await page.selectOption('#req-status', '');

  // The Connections tab: a relayed connection, and its first messages.
  await listen(t, relay, 'chat');
  const ws = await sendWs(relay, 'chat');
  t.after(() => ws.terminate());
  ws.send('hello through the relay');
  await onceOrError(ws, 'message');
  await page.click('[data-tab="connections"]');
  await page.locator('#conns tr.clickable').first().click();
  await page.waitForSelector('#conn-detail:not([hidden])');
  assert.match(await page.textContent('#conn-detail'), /from sender.*hello through the relay/s);
  assert.match(await page.textContent('#conn-detail'), /from listener.*hello through the relay/s);

  // The other tabs render.
  await page.click('[data-tab="listeners"]');
  await page.waitForSelector('#lsts tr td.ok');
  await page.click('[data-tab="requests"]');
  await page.locator('#requests tr[data-id]').first().click();

  for (const width of [1920, 420]) {
    await page.setViewportSize({ width, height: width === 420 ? 900 : 1000 });
    await page.waitForTimeout(100);
    // Nothing wider than the window (tables scroll inside their box).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page fits ${width} px (overflow ${overflow} px)`);
    const file = path.join(shots, `inspector-requests-${width}.png`);
    const png = await page.screenshot({ path: file, fullPage: true });
    assert.ok(png.length > 15_000, `a ${width} px screenshot with content (${png.length} bytes)`);
    const variety = await pixelVariety(context, png);
    assert.equal(variety.width, width);
    assert.ok(variety.colours > 20 && variety.differing > 0.01, `the ${width} px screenshot is not blank (${JSON.stringify(variety)})`);
  }
});
