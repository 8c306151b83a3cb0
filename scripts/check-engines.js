'use strict';
// Checks that every runtime dependency of the published packages (and of
// theirs, all the way down, as installed) supports every Node.js version
// our own `engines` allows: our range must lie inside each of theirs. Run
// by .ci/run, so that a dependency that needs a newer Node.js than we
// declare cannot slip in unnoticed. Exits 1 and names each offender.
const fs = require('node:fs');
const path = require('node:path');
const semver = require('semver');

const ROOT = path.join(__dirname, '..');
const PACKAGES = ['packages/hyco-websocket', 'packages/relay-emulator'];

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The package.json of `name` as Node resolves it from `fromDir`. */
function resolveManifest(name, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name, 'package.json');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

const problems = [];
let checked = 0;
for (const pkgDir of PACKAGES) {
  const manifest = readJson(path.join(ROOT, pkgDir, 'package.json'));
  const ours = manifest.engines?.node;
  if (!ours) {
    problems.push(`${manifest.name} declares no engines.node`);
    continue;
  }
  const seen = new Set();
  const queue = Object.keys(manifest.dependencies ?? {}).map((name) => ({ name, from: path.join(ROOT, pkgDir), via: manifest.name }));
  while (queue.length) {
    const { name, from, via } = queue.shift();
    const file = resolveManifest(name, from);
    if (!file) {
      problems.push(`${name} (needed by ${via}) is not installed: run npm ci first`);
      continue;
    }
    if (seen.has(file)) continue;
    seen.add(file);
    const dep = readJson(file);
    checked++;
    const theirs = dep.engines?.node;
    if (theirs && semver.validRange(theirs) && !semver.subset(ours, theirs)) {
      problems.push(`${manifest.name} allows Node.js ${ours}, but ${dep.name}@${dep.version} (via ${via}) needs ${theirs}`);
    }
    for (const child of Object.keys(dep.dependencies ?? {})) queue.push({ name: child, from: path.dirname(file), via: `${via} > ${dep.name}` });
  }
}
if (problems.length) {
  for (const p of problems) process.stderr.write(`check-engines: ${p}\n`);
  process.exit(1);
}
process.stdout.write(`check-engines: ${checked} runtime dependencies support every Node.js version our packages allow\n`);
