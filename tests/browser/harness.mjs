// What every browser test needs: a local run of the whole pipeline
// (scripts/local.sh, the real functions on the simulated floor) and
// Debian's Chromium driven by playwright-core. Nothing is downloaded.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const OUT = path.join(REPO, 'target', 'wallboard');

// The flags this machine's closed network needs: without the background
// networking ones Chromium keeps trying Google's hosts.
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: FLAGS,
  });
}

/// Starts scripts/local.sh with `env` on a free port; resolves once the
/// first snapshot is served. `stop()` ends it (and moto and the functions).
export async function startLocalRun(name, env = {}) {
  await mkdir(OUT, { recursive: true });
  const log = createWriteStream(path.join(OUT, `local-run-${name}.log`));
  const child = spawn('bash', ['scripts/local.sh'], {
    cwd: REPO,
    env: { ...process.env, LOCAL_API_PORT: '0', POLL_INTERVAL_SECONDS: '2', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      log.write(chunk);
      if (output.length < 100000) output += chunk;
    });
  }
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    await exited;
    clearTimeout(timer);
    log.end();
  };
  try {
    const deadline = Date.now() + 15 * 60 * 1000; // a first build may take minutes
    let wallboard = null;
    while (!wallboard) {
      const match = output.match(/^\s+Wallboard\s+(\S+)/m);
      if (match) wallboard = match[1];
      else if (child.exitCode !== null) throw new Error(`local run exited (${child.exitCode}):\n${output.slice(-3000)}`);
      else if (Date.now() > deadline) throw new Error('local run did not start');
      else await sleep(250);
    }
    const url = wallboard.replace(/\/wallboard$/, '');
    while (!(await fetch(`${url}/v1/snapshot`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no snapshot was served:\n${output.slice(-3000)}`);
      await sleep(250);
    }
    return { url, wallboard, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Waits until `condition()` is true, checking every 50 ms, for at most
// `timeout` ms; fails naming `what` otherwise.
export async function until(condition, timeout, what) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/// The board as the page shows it, read in one go so it cannot mix polls.
export function readBoard(page) {
  return page.evaluate(() => ({
    snapshotId: document.body.dataset.snapshotId,
    state: document.body.dataset.state,
    tiles: [...document.querySelectorAll('#board .tile')].map((tile) => ({
      id: tile.dataset.queueId,
      level: tile.dataset.level,
      source: tile.dataset.source,
      name: tile.querySelector('.name').textContent,
      label: tile.querySelector('.label').textContent,
      stale: tile.classList.contains('stale'),
      sparkPoints: tile.querySelector('.spark polyline').getAttribute('points') || '',
      fields: Object.fromEntries(
        [...tile.querySelectorAll('[data-field]')].map((d) => [d.dataset.field, d.textContent]),
      ),
    })),
  }));
}

// The page's formats, restated: a tile must show exactly these.
const pad = (n) => String(n).padStart(2, '0');
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
export const count = (n) => (n === null || n === undefined ? '–' : String(n));
export const RANK = { critical: 0, warning: 1, unknown: 2, normal: 3 };
