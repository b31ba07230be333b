// The wallboard in a real browser against the local run: what a
// supervisor sees is what /v1/snapshot says, it moves with every poll, it
// filters, it fits a phone, and it rides out an API outage.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import path from 'node:path';
import { OUT, RANK, count, duration, launchBrowser, readBoard, sleep, startLocalRun, until } from './harness.mjs';

// Two queues whose level is fixed by configuration, as a deployer would
// fix it: one always critical, one always normal.
const CRITICAL = 'email-customer-care';
const NORMAL = 'sms-customer-care';
const QUEUE_LEVELS = JSON.stringify({
  queues: {
    [CRITICAL]: [{ metric: 'agentsStaffed', warning: 0, critical: 0 }],
    [NORMAL]: [{ metric: 'agentsStaffed', warning: 1000000, critical: 1000000 }],
  },
});

let run;
let browser;
let page;
const consoleErrors = [];
const snapshots = new Map(); // every snapshot the page was served, by id
const snapshotRequests = []; // the If-None-Match of each snapshot request
const snapshotRoute = (url) => url.pathname.endsWith('/v1/snapshot');

before(async () => {
  run = await startLocalRun('wallboard', { QUEUE_LEVELS });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('request', (request) => {
    if (new URL(request.url()).pathname.endsWith('/v1/snapshot')) {
      snapshotRequests.push(request.headers()['if-none-match'] || null);
    }
  });
  page.on('response', async (response) => {
    if (new URL(response.url()).pathname.endsWith('/v1/snapshot') && response.status() === 200) {
      const body = await response.json().catch(() => null);
      if (body) snapshots.set(body.snapshotId, body);
    }
  });
  await page.goto(run.wallboard);
});

after(async () => {
  await browser?.close();
  await run?.stop();
});

/// The snapshot the page says it shows, once its answer has been read here.
async function shownSnapshot(board) {
  for (let i = 0; i < 40 && !snapshots.has(board.snapshotId); i += 1) await sleep(50);
  const snapshot = snapshots.get(board.snapshotId);
  assert.ok(snapshot, `the page shows snapshot ${board.snapshotId}, which it was never served`);
  return snapshot;
}

/// Every queue of the shown snapshot is one tile with its figures, worst first.
async function assertBoardMatchesSnapshot() {
  const board = await readBoard(page);
  const snapshot = await shownSnapshot(board);
  assert.equal(board.tiles.length, snapshot.queues.length, 'one tile per queue');
  const tiles = new Map(board.tiles.map((t) => [t.id, t]));
  for (const q of snapshot.queues) {
    const tile = tiles.get(q.queueId);
    assert.ok(tile, `a tile for ${q.queueId}`);
    assert.equal(tile.name, q.queueName);
    assert.equal(tile.level, q.level);
    assert.equal(tile.stale, q.stale);
    assert.equal(tile.fields.itemsInQueue, count(q.itemsInQueue));
    assert.equal(tile.fields.oldestItem, duration(q.oldestItem));
    assert.equal(tile.fields.estimatedWaitTime, duration(q.estimatedWaitTime));
    assert.equal(tile.fields.agents, `${count(q.agentsAvailable)} / ${count(q.agentsStaffed)}`);
  }
  const ranks = board.tiles.map((t) => RANK[t.level]);
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), 'worst level first');
  return board;
}

test('the page loads without console errors and shows one tile per queue with its figures', async () => {
  await page.waitForSelector('#board .tile');
  const board = await assertBoardMatchesSnapshot();
  assert.ok(board.tiles.length >= 40, `the simulated floor has ${board.tiles.length} queues`);
  assert.match(await page.textContent('#data-time'), /^Data from \d\d:\d\d:\d\d/);
  assert.deepEqual(consoleErrors, []);
});

test('a critical queue looks different from a normal one, in colour and in words', async () => {
  const look = await page.evaluate(
    ([critical, normal]) => {
      const style = (id) => {
        const tile = document.querySelector(`.tile[data-queue-id="${id}"]`);
        const badge = tile.querySelector('.badge');
        return {
          level: tile.dataset.level,
          border: getComputedStyle(tile).borderLeftColor,
          background: getComputedStyle(tile).backgroundColor,
          badge: getComputedStyle(badge).backgroundColor,
          icon: tile.querySelector('.icon').textContent,
          label: tile.querySelector('.label').textContent,
        };
      };
      return { critical: style(critical), normal: style(normal) };
    },
    [CRITICAL, NORMAL],
  );
  assert.equal(look.critical.level, 'critical');
  assert.equal(look.normal.level, 'normal');
  assert.notEqual(look.critical.border, look.normal.border);
  assert.notEqual(look.critical.background, look.normal.background);
  assert.notEqual(look.critical.badge, look.normal.badge);
  // Not colour alone: an icon and a word too.
  assert.equal(look.critical.label, 'Critical');
  assert.equal(look.normal.label, 'Normal');
  assert.notEqual(look.critical.icon, look.normal.icon);
});

test('the board updates after the next poll, sparklines included', async () => {
  const first = await readBoard(page);
  await page.waitForFunction(
    (id) => document.body.dataset.snapshotId && document.body.dataset.snapshotId !== id,
    first.snapshotId,
    { timeout: 20000 },
  );
  await assertBoardMatchesSnapshot();
  // Each poll after the first asks with the ETag it holds.
  assert.equal(snapshotRequests[0], null);
  assert.ok(snapshotRequests.slice(1).every((tag) => /^"[0-9a-f]+"$/.test(tag)), snapshotRequests.join(' '));
  // A few polls in, every fresh tile has a line of at least two points.
  await page.waitForFunction(
    () => [...document.querySelectorAll('#board .tile:not(.stale) .spark polyline')]
      .every((line) => (line.getAttribute('points') || '').split(' ').length >= 2),
    null,
    { timeout: 20000 },
  );
  const board = await readBoard(page);
  assert.equal(board.state, 'live');
  // Each line spans the tile and ends at the latest poll.
  for (const tile of board.tiles.filter((t) => !t.stale)) {
    const xs = tile.sparkPoints.split(' ').map((p) => Number(p.split(',')[0]));
    assert.ok(xs[0] === 0 && xs[xs.length - 1] === 100, `${tile.id}: ${tile.sparkPoints}`);
  }
  await page.screenshot({ path: path.join(OUT, 'tv.png') });
});

test('filters by source from a click and from the address', async () => {
  await page.click('#filters button[data-source="8x8"]');
  await page.waitForFunction(() => {
    const tiles = [...document.querySelectorAll('#board .tile')];
    return tiles.length > 0 && tiles.every((t) => t.dataset.source === '8x8');
  }, null, { timeout: 10000 });
  assert.match(page.url(), /[?&]source=8x8\b/);
  const eight = await (await fetch(`${run.url}/v1/snapshot?source=8x8`)).json();
  assert.equal((await readBoard(page)).tiles.length, eight.queues.length);
  assert.equal(await page.getAttribute('#filters button[data-source="8x8"]', 'aria-pressed'), 'true');

  await page.click('#filters button[data-source=""]');
  await page.waitForFunction(
    () => new Set([...document.querySelectorAll('#board .tile')].map((t) => t.dataset.source)).size > 1,
    null,
    { timeout: 10000 },
  );
  assert.doesNotMatch(page.url(), /source=/);

  // A wall screen is set up by its address: one source, bad levels only.
  const other = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await other.goto(`${run.wallboard}?source=connect&level=critical,warning&title=Voice%20floor`);
  await other.waitForSelector('#board .tile');
  const board = await readBoard(other);
  assert.ok(board.tiles.every((t) => t.source === 'connect' && ['critical', 'warning'].includes(t.level)));
  assert.equal(await other.textContent('h1'), 'Voice floor');
  await other.close();
});

test('names each Connect instance by its alias and filters by it', async () => {
  // The local run's floor spans two Connect instances in two Regions.
  const health = await (await fetch(`${run.url}/v1/health`)).json();
  const instances = health.sources.filter((s) => s.instanceId);
  assert.equal(instances.length, 2, JSON.stringify(health.sources));
  const west = instances.find((s) => s.region === 'us-west-2');
  assert.ok(west, 'an instance in us-west-2');

  const chip = `#filters button[data-instance-id="${west.instanceId}"]`;
  await page.waitForSelector(chip);
  assert.equal((await page.textContent(chip)).trim(), `Amazon Connect · ${west.instanceAlias}`);
  await page.click(chip);
  await page.waitForFunction((id) => {
    const tiles = [...document.querySelectorAll('#board .tile')];
    return tiles.length > 0 && tiles.every((t) => t.dataset.instanceId === id);
  }, west.instanceId, { timeout: 10000 });
  assert.match(page.url(), new RegExp(`[?&]instanceId=${west.instanceId}\\b`));
  const only = await (await fetch(`${run.url}/v1/snapshot?instanceId=${west.instanceId}`)).json();
  assert.equal((await readBoard(page)).tiles.length, only.queues.length);
  // Each tile of that instance says so, by its alias.
  const wheres = await page.$$eval('#board .tile .where', (nodes) => nodes.map((n) => n.textContent));
  assert.ok(wheres.every((w) => w.includes(west.instanceAlias)), wheres.join(' | '));

  await page.click('#filters button[data-source=""]');
  await page.waitForFunction(
    () => new Set([...document.querySelectorAll('#board .tile')].map((t) => t.dataset.source)).size > 1,
    null,
    { timeout: 10000 },
  );
  assert.doesNotMatch(page.url(), /instanceId=/);
});

test('a phone gets one column and no horizontal scroll at 390 px', async () => {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  const phone = await context.newPage();
  await phone.goto(run.wallboard);
  await phone.waitForSelector('#board .tile');
  const layout = await phone.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    widest: Math.max(...[...document.querySelectorAll('body *')].map((e) => e.getBoundingClientRect().right)),
    columns: new Set([...document.querySelectorAll('#board .tile')].map((t) => t.getBoundingClientRect().left)).size,
  }));
  assert.ok(layout.scrollWidth <= 390, `scroll width ${layout.scrollWidth}`);
  assert.ok(layout.widest <= 390.5, `an element reaches ${layout.widest} px`);
  assert.equal(layout.columns, 1);
  await phone.screenshot({ path: path.join(OUT, 'phone.png') });
  await context.close();
});

test('keeps the last picture while the API answers 503, and recovers by itself', async () => {
  // The API's own 503 (its store unavailable), answered for a while.
  let refused = 0;
  await page.route(snapshotRoute, (route) => {
    refused += 1;
    return route.fulfill({
      status: 503,
      contentType: 'application/json',
      headers: { 'retry-after': '1' },
      body: JSON.stringify({
        error: { code: 'STORE_UNAVAILABLE', message: 'the snapshot store is unavailable; try again shortly' },
      }),
    });
  });
  await page.waitForSelector('[data-banner="offline"]', { timeout: 15000 });
  // What was on screen when the API started failing (a poll already on
  // its way may have landed first).
  const before = await readBoard(page);
  assert.ok(before.tiles.length > 0);
  // Three more failed polls, however long the board takes to make them.
  const seen = refused;
  await until(() => refused >= seen + 3, 20000, 'three more failed polls');
  const during = await readBoard(page);
  assert.equal(during.state, 'offline');
  assert.equal(during.snapshotId, before.snapshotId, 'the last picture stays');
  assert.equal(during.tiles.length, before.tiles.length);
  assert.match(await page.textContent('[data-banner="offline"]'), /HTTP 503 STORE_UNAVAILABLE/);
  await page.screenshot({ path: path.join(OUT, 'tv-api-down.png') });

  await page.unroute(snapshotRoute);
  await page.waitForFunction(
    (id) => document.body.dataset.state === 'live'
      && !document.querySelector('[data-banner="offline"]')
      && document.body.dataset.snapshotId !== id,
    before.snapshotId,
    { timeout: 45000 },
  );
  await assertBoardMatchesSnapshot();
});

test('a failing source gets a banner, and its queues a Stale tag', async () => {
  // The poller's own report of one throttled Connect instance (us-west-2):
  // its queues carried over, the other instance's fresh.
  let west;
  await alterSnapshots('failing', (snapshot) => {
    const asOf = new Date(Date.parse(snapshot.observedAt) - 120000).toISOString();
    west = snapshot.sources.find((s) => s.source === 'connect' && s.region === 'us-west-2');
    west.status = 'error';
    west.error = { code: 'THROTTLED', message: 'Connect answered 429 three times' };
    for (const queue of snapshot.queues) {
      if (queue.instanceId === west.instanceId) Object.assign(queue, { stale: true, asOf, level: 'unknown' });
    }
  });
  await page.waitForFunction(() => document.querySelector('[data-banner^="source-connect-"]'), null, { timeout: 15000 });
  const banner = `[data-banner="source-connect-${west.instanceId}"]`;
  assert.match(
    await page.textContent(banner),
    new RegExp(`Amazon Connect \\(${west.instanceAlias}\\) is failing \\(THROTTLED: Connect answered 429 three times\\)`),
  );
  const board = await readBoard(page);
  const connect = board.tiles.filter((t) => t.source === 'connect');
  const ids = await page.$$eval('#board .tile[data-source="connect"]', (nodes) => nodes.map((n) => [n.dataset.queueId, n.dataset.instanceId]));
  const instanceOf = new Map(ids);
  const failing = connect.filter((t) => instanceOf.get(t.id) === west.instanceId);
  const fresh = connect.filter((t) => instanceOf.get(t.id) !== west.instanceId);
  assert.ok(failing.length > 0 && failing.every((t) => t.stale && t.level === 'unknown'));
  assert.ok(fresh.length > 0 && fresh.every((t) => !t.stale), 'the other instance stays fresh');
  const tag = await page.textContent(`.tile[data-instance-id="${west.instanceId}"] .stale-tag`);
  assert.match(tag, /^Stale · as of \d\d:\d\d:\d\d$/);
  assert.equal(await page.getAttribute(`#filters button[data-instance-id="${west.instanceId}"]`, 'class'), 'failing');
  await page.unroute(snapshotRoute);
  await page.waitForSelector(banner, { state: 'detached', timeout: 15000 });
});

test('a Connect tile shows how accurate its wait estimate has been', async () => {
  let scored;
  await alterSnapshots('scored', (snapshot) => {
    // As the poller reports it with contact events on; the local run's own
    // scores (its floor sends contact events too) are taken out.
    for (const queue of snapshot.queues) delete queue.estimateAccuracy;
    scored = snapshot.queues.find((q) => q.source === 'connect');
    scored.estimateAccuracy = { maeSeconds: 12.4, biasSeconds: -6.2, contacts: 34, since: snapshot.observedAt };
  });
  const fake = 'Estimate ±12 s over 34 answered, short by 6 s';
  await page.waitForFunction((text) => [...document.querySelectorAll('.tile .accuracy')].some((n) => n.textContent === text), fake, { timeout: 15000 });
  const texts = await page.$$eval('.tile .accuracy', (nodes) => nodes.map((n) => [n.closest('.tile').dataset.queueId, n.textContent]).filter(([, t]) => t));
  assert.deepEqual(texts, [[scored.queueId, fake]]);
  await page.unroute(snapshotRoute);
  await page.waitForFunction(
    ([id, text]) => ![...document.querySelectorAll('.tile .accuracy')]
      .some((n) => n.closest('.tile').dataset.queueId === id && n.textContent === text),
    [scored.queueId, fake],
    { timeout: 15000 },
  );
});

// Serves the live snapshot as `mutate` changes it, under a snapshot id and
// an etag of its own, until the test unroutes `snapshotRoute`.
async function alterSnapshots(tag, mutate) {
  await page.route(snapshotRoute, async (route) => {
    const headers = { ...route.request().headers() };
    delete headers['if-none-match'];
    const response = await route.fetch({ headers });
    const snapshot = await response.json();
    mutate(snapshot);
    snapshot.snapshotId = `${snapshot.snapshotId}-${tag}`;
    await route.fulfill({ response, json: snapshot, headers: { ...response.headers(), etag: `"${tag}"` } });
  });
}
