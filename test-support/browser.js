'use strict';
// Debian's Chromium, driven by playwright-core, for the browser tests: never
// a downloaded browser. A test that needs it fails, never skips, when it is
// missing. Screenshots go to $HYCO_SCREENSHOTS when set (kept, to look at),
// else to a temporary folder removed afterwards.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** A browser context with a fresh profile, closed (and the profile removed) after the test. */
async function launch(t, viewport = { width: 1280, height: 860 }) {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is required for this test and was not found at ${CHROMIUM} (apt-get install -y chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });
  t.after(async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  });
  return context;
}

/** Where this test's screenshots go. */
function screenshotDir(t) {
  if (process.env.HYCO_SCREENSHOTS) {
    fs.mkdirSync(process.env.HYCO_SCREENSHOTS, { recursive: true });
    return process.env.HYCO_SCREENSHOTS;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyco-screenshot-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

module.exports = { launch, screenshotDir };
