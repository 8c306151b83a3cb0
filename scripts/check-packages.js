'use strict';
// Packs both packages as `npm publish` would (through their prepack clean
// build) and checks what a registry user gets: the built code and types, the
// README and LICENSE, the metadata; no source maps, build info or tests.
// Run by .ci/run before the tests. Exits 1 naming each problem.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const NPM = process.env.npm_execpath;
const PACKAGES = {
  'packages/hyco-websocket': ['dist/index.js', 'dist/index.d.ts', 'dist/protocol/index.js', 'dist/cli.js', 'esm/index.mjs', 'bin/hyco-websocket.js'],
  'packages/relay-emulator': ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'bin/hyco-relay-emulator.js', 'config.schema.json'],
};

const problems = [];
const license = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
for (const [dir, required] of Object.entries(PACKAGES)) {
  const cwd = path.join(ROOT, dir);
  const args = ['pack', '--dry-run', '--json'];
  const out = NPM ? execFileSync(process.execPath, [NPM, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }) : execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [packed] = JSON.parse(out.slice(out.indexOf('[')));
  const files = packed.files.map((f) => f.path);
  const manifest = JSON.parse(fs.readFileSync(path.join(cwd, 'package.json'), 'utf8'));
  for (const file of ['README.md', 'LICENSE', 'package.json', ...required]) if (!files.includes(file)) problems.push(`${packed.name}: ${file} is not in the tarball`);
  for (const file of files) {
    if (/\.map$|tsbuildinfo|^src\/|^test\//.test(file)) problems.push(`${packed.name}: ${file} should not be in the tarball`);
  }
  if (fs.readFileSync(path.join(cwd, 'LICENSE'), 'utf8') !== license) problems.push(`${packed.name}: its LICENSE differs from the repository's`);
  if (!fs.readFileSync(path.join(cwd, 'README.md'), 'utf8').startsWith(`# ${packed.name}`)) problems.push(`${packed.name}: its README does not start with its name`);
  for (const field of ['repository', 'homepage', 'bugs', 'keywords', 'engines', 'license']) if (!manifest[field]) problems.push(`${packed.name}: package.json has no ${field}`);
  if (!manifest.exports) problems.push(`${packed.name}: package.json has no exports map`);
  process.stdout.write(`check-packages: ${packed.name}@${packed.version}: ${files.length} files, ${(packed.size / 1024).toFixed(1)} kB packed, ${(packed.unpackedSize / 1024).toFixed(1)} kB unpacked\n`);
}
if (problems.length) {
  for (const p of problems) process.stderr.write(`check-packages: ${p}\n`);
  process.exit(1);
}
