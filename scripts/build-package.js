'use strict';
// `prepack` of each package: a clean build, so that a tarball holds exactly
// what the sources give (never a stale file of a removed source).
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const dir = process.cwd();
fs.rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
fs.rmSync(path.join(dir, 'tsconfig.tsbuildinfo'), { force: true });
const tsc = require.resolve('typescript/bin/tsc', { paths: [dir] });
execFileSync(process.execPath, [tsc, '-b', path.join(dir, 'tsconfig.json')], { stdio: 'inherit' });
