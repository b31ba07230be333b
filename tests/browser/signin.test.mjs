// Sign-in as deployed with ApiAuthorization=COGNITO, in a real browser:
// the page is public, signs in with the authorization code flow and PKCE
// against a hosted-UI stand-in, sends its token on every data call,
// refreshes it before it expires and after a 401, and signs out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startCognito } from './cognito-standin.mjs';
import { launchBrowser, sleep, startLocalRun, until } from './harness.mjs';

const CLIENT_ID = 'wallboardtestclient';
let cognito;
let run;
let browser;
let page;
const dataCalls = []; // { path, authorization } of every API call the page made

before(async () => {
  // Tokens that are fresh for 5 s (the page refreshes a minute early).
  cognito = await startCognito({ clientId: CLIENT_ID, expiresIn: 65 });
  run = await startLocalRun('signin', {
    WALLBOARD_SIGN_IN_URL: cognito.url,
    WALLBOARD_CLIENT_ID: CLIENT_ID,
    // A small floor: this suite is about the sign-in, not the tiles.
    SIM_QUEUES: '4',
    SIM_EIGHTX8_QUEUES: '0',
    SIM_CLARITY_QUEUES: '0',
  });
  browser = await launchBrowser();
  page = await browser.newPage();
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin === new URL(run.url).origin && url.pathname.startsWith('/v1/')) {
      dataCalls.push({ path: url.pathname, authorization: request.headers().authorization });
    }
  });
});

after(async () => {
  await browser?.close();
  await run?.stop();
  await cognito?.close();
});

const grants = (type) => cognito.log.filter((e) => e.path === '/oauth2/token' && e.params.grant_type === type);

test('signs in with the authorization code flow and PKCE, keeping the filters', async () => {
  await page.goto(`${run.wallboard}?source=symbee`);
  await page.waitForSelector('#board .tile', { timeout: 20000 });

  const authorize = cognito.log.find((e) => e.path === '/oauth2/authorize');
  assert.ok(authorize, 'the page sent the viewer to the hosted UI');
  assert.equal(authorize.params.response_type, 'code');
  assert.equal(authorize.params.code_challenge_method, 'S256');
  assert.match(authorize.params.code_challenge, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(authorize.params.redirect_uri, run.wallboard, 'the callback is the wallboard URL itself');
  assert.ok(authorize.params.state.length >= 16);
  const [exchange] = grants('authorization_code');
  assert.ok(exchange, 'the code was exchanged (the stand-in checked the verifier)');
  assert.equal(exchange.contentType, 'application/x-www-form-urlencoded');

  // The one-time code is gone from the address; the filter is back.
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('code'), null);
  assert.equal(url.searchParams.get('source'), 'symbee');
  assert.ok(dataCalls.length > 0);
  assert.ok(dataCalls.every((c) => c.authorization === 'Bearer access-1'), JSON.stringify(dataCalls));
  const tiles = await page.$$eval('#board .tile', (all) => all.map((t) => t.dataset.source));
  assert.ok(tiles.every((s) => s === 'symbee'));
  assert.equal(await page.isVisible('#sign-out'), true);
});

test('refreshes the token before it expires and keeps polling with the new one', async () => {
  const start = dataCalls.length;
  await until(() => grants('refresh_token').length > 0, 10000, 'a refresh grant');
  assert.ok(grants('refresh_token').length > 0, 'a refresh grant was made');
  for (let i = 0; i < 100 && !dataCalls.slice(start).some((c) => c.authorization !== 'Bearer access-1'); i += 1) await sleep(100);
  const later = dataCalls.slice(start).map((c) => c.authorization);
  assert.ok(later.some((a) => /^Bearer access-[2-9]/.test(a)), later.join(','));
  assert.equal(await page.getAttribute('body', 'data-state'), 'live');
});

test('a 401 from the API gets a refreshed token and one retry', async () => {
  const refreshes = grants('refresh_token').length;
  let refused = 0;
  const snapshotRoute = (url) => url.pathname.endsWith('/v1/snapshot');
  await page.route(snapshotRoute, (route) => {
    if (refused === 0) {
      refused += 1;
      return route.fulfill({ status: 401, contentType: 'application/json', body: '{"message":"Unauthorized"}' });
    }
    return route.continue();
  });
  const start = dataCalls.length;
  for (let i = 0; i < 100 && (refused === 0 || dataCalls.length < start + 2); i += 1) await sleep(100);
  await page.unroute(snapshotRoute);
  assert.equal(refused, 1);
  assert.ok(grants('refresh_token').length > refreshes, 'the 401 was answered by a refresh');
  const [first, retry] = dataCalls.slice(start).filter((c) => c.path === '/v1/snapshot');
  assert.ok(retry && retry.authorization !== first.authorization, 'the retry carried the new token');
  assert.equal(await page.isVisible('[data-banner="offline"]'), false);
});

test('a refused sign-in is shown, with a button, and does not loop', async () => {
  const other = await browser.newPage();
  const before = cognito.log.filter((e) => e.path === '/oauth2/authorize').length;
  await other.goto(`${run.wallboard}?error=access_denied&error_description=User%20is%20disabled`);
  await other.waitForSelector('#banners .banner.error button', { timeout: 10000 });
  assert.match(await other.textContent('#banners'), /Sign-in failed: User is disabled/);
  // An absence has no condition to wait for: a window as long as the
  // board's own redirect delay and more.
  await sleep(1500);
  assert.equal(cognito.log.filter((e) => e.path === '/oauth2/authorize').length, before, 'no automatic redirect');
  await other.close();
});

test('sign-out drops the tokens and goes to the hosted UI logout and back', async () => {
  const tokens = () => page.evaluate(() => JSON.parse(localStorage.getItem('queue-stats.wallboard.tokens')));
  const before = await tokens();
  const authorizations = cognito.log.filter((e) => e.path === '/oauth2/authorize').length;
  await page.click('#sign-out');
  await page.waitForURL((url) => url.href.startsWith(run.wallboard), { timeout: 10000 });
  const logout = cognito.log.find((e) => e.path === '/logout');
  assert.ok(logout);
  assert.equal(logout.params.client_id, CLIENT_ID);
  assert.equal(logout.params.logout_uri, run.wallboard);
  // Back on the board with no token, the viewer is sent to sign in again
  // (the stand-in signs in at once; Cognito would show its form).
  for (let i = 0; i < 100 && cognito.log.filter((e) => e.path === '/oauth2/authorize').length === authorizations; i += 1) await sleep(100);
  assert.equal(cognito.log.filter((e) => e.path === '/oauth2/authorize').length, authorizations + 1);
  await page.waitForSelector('#board .tile', { timeout: 20000 });
  const after = await tokens();
  assert.notEqual(after.refresh, before.refresh, 'the old session was not kept');
});
