// Starts the real `switchyard` binary ($SWITCHYARD_BIN) for the Node SDK tests.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const MOCK_CONFIG = `providers:
  mock: { type: mock }
models:
  support-bot:
    targets: [ { provider: mock, model: echo } ]
`;

const LISTEN_RE = /switchyard listening on (http:\/\/\S+?:\d+)\s*$/;
const STARTUP_TIMEOUT_MS = 20_000;
const SHUTDOWN_TIMEOUT_MS = 15_000;

const live = new Set();
// Never leave a gateway behind, whatever happens to the test process.
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

function switchyardBin() {
  const bin = process.env.SWITCHYARD_BIN;
  if (!bin) {
    throw new Error('SWITCHYARD_BIN is not set: build the gateway and export ' +
      'SWITCHYARD_BIN=$PWD/target/debug/switchyard, or run scripts/test.sh');
  }
  return bin;
}

function stderrTail(path, n = 40) {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '<no stderr>';
  }
}

/**
 * Start `switchyard serve --config CFG --data-dir TMP --listen 127.0.0.1:0`.
 * Resolves to { root, baseURL, dataDir, stop() }; stop() sends SIGTERM and rejects unless the
 * process exits with code 0 within 15 s.
 */
export async function startGateway(config = MOCK_CONFIG) {
  const bin = switchyardBin();
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-node-'));
  const cfg = join(dir, 'switchyard.yaml');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  writeFileSync(cfg, config);
  const stderrPath = join(dir, 'stderr.log');
  const errFd = openSync(stderrPath, 'w');

  let child;
  try {
    child = spawn(bin, ['serve', '--config', cfg, '--data-dir', dataDir, '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', errFd], env: { RUST_LOG: 'info', ...process.env } });
  } finally {
    closeSync(errFd);
  }
  live.add(child);

  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
  });

  const stdoutLines = [];
  const root = await new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, v) => { if (!done) { done = true; clearTimeout(timer); fn(v); } };
    const fail = (why) => finish(reject, new Error(
      `gateway did not print 'switchyard listening on http://HOST:PORT': ${why}\n` +
      `stdout:\n${stdoutLines.join('\n')}\nstderr tail:\n${stderrTail(stderrPath)}`));
    const timer = setTimeout(() => fail(`timeout after ${STARTUP_TIMEOUT_MS} ms`), STARTUP_TIMEOUT_MS);
    child.on('error', (e) => fail(`spawn failed: ${e.message}`));
    exited.then(({ code, signal }) => fail(`exited early (code ${code}, signal ${signal})`));
    // Keep reading stdout for the process's whole life so it never blocks on a full pipe.
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdoutLines.push(line);
      const m = LISTEN_RE.exec(line.trim());
      if (m) finish(resolve, m[1]);
    });
  }).catch((e) => {
    child.kill('SIGKILL');
    throw e;
  });

  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) {
      const { code, signal } = await exited;
      if (code !== 0) throw new Error(`gateway had already exited (code ${code}, signal ${signal})`);
      return;
    }
    child.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), SHUTDOWN_TIMEOUT_MS); });
    const result = await Promise.race([exited, timeout]);
    clearTimeout(timer);
    if (result === null) {
      child.kill('SIGKILL');
      throw new Error(`gateway did not exit within ${SHUTDOWN_TIMEOUT_MS} ms of SIGTERM\n` +
        `stderr tail:\n${stderrTail(stderrPath)}`);
    }
    if (result.code !== 0) {
      throw new Error(`gateway exited with code ${result.code} (signal ${result.signal}) after SIGTERM, ` +
        `expected 0\nstderr tail:\n${stderrTail(stderrPath)}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }

  return { root, baseURL: `${root}/v1`, dataDir, stop, kill: () => child.kill('SIGKILL') };
}
