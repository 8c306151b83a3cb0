'use strict';
// After a build, make each package's `bin` files executable, so that the
// links npm made to them at install time (before dist/ existed) run.
const fs = require('node:fs');
const path = require('node:path');

const packagesDir = path.join(__dirname, '..', 'packages');
for (const name of fs.readdirSync(packagesDir)) {
  const manifestPath = path.join(packagesDir, name, 'package.json');
  if (!fs.existsSync(manifestPath)) continue;
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const bins = typeof manifest.bin === 'string' ? [manifest.bin] : Object.values(manifest.bin ?? {});
  for (const bin of bins) {
    const file = path.join(packagesDir, name, bin);
    if (fs.existsSync(file)) fs.chmodSync(file, 0o755);
  }
}
