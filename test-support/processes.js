'use strict';
// Node scripts (the CLIs) run as processes, for tests that drive them as a
// user does.
const { spawn } = require('node:child_process');

/**
 * Runs `node script ...args` to its end, killed after `ms`; resolves with
 * { code, signal, stdout, stderr }.
 */
function runToExit(script, args, { env = process.env, ms = 15000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Starts `node script ...args` (a CLI given --json) and resolves with
 * { child, summary, stderr() } once its first stdout line (one JSON object)
 * has come; rejects if it exits first. Killed after the test.
 */
function startJsonProcess(t, script, args) {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) resolve({ child, summary: JSON.parse(stdout), stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });
}

module.exports = { runToExit, startJsonProcess };
