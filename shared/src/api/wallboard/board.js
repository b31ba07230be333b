'use strict';
// The wallboard's script: polls /v1/snapshot with If-None-Match once per
// poll interval, draws one tile per queue (worst first), backfills each
// tile's sparkline from /v1/queues/{id}/history once and then extends it
// from every snapshot. When the API fails it keeps the last picture, says
// so, and retries by itself. With sign-in configured it holds a Cognito
// token (authorization code flow with PKCE) and refreshes it.
(function () {
  const settings = JSON.parse(document.getElementById('settings').textContent);
  const POLL_MS = Math.max(1, settings.pollIntervalSeconds) * 1000;
  const STALE_MS = settings.staleAfterSeconds * 1000;
  const WINDOW_MS = settings.historyMinutes * 60000;
  // A failing API is asked again less and less often, never less than
  // once every 30 s (or once per interval, if that is longer).
  const MAX_RETRY_MS = Math.max(POLL_MS, 30000);
  const BACKFILL_TILES = 200;
  const BACKFILL_PARALLEL = 4;
  const LEVELS = {
    critical: { rank: 0, icon: '▲', label: 'Critical' },
    warning: { rank: 1, icon: '◆', label: 'Warning' },
    unknown: { rank: 2, icon: '?', label: 'No data' },
    normal: { rank: 3, icon: '●', label: 'Normal' },
  };
  const SOURCE_NAMES = { symbee: 'Symbee', connect: 'Amazon Connect', '8x8': '8x8', clarity: 'Clarity' };
  // Page parameters passed on to the API as its own filters.
  const API_FILTERS = ['source', 'taskType', 'deliveryProvider', 'queueId', 'instanceId'];
  const SVG = 'http://www.w3.org/2000/svg';

  const el = (id) => document.getElementById(id);
  const board = el('board');
  // The API's root: the page is {root}wallboard, whatever the stage path.
  const apiRoot = new URL(location.pathname.replace(/wallboard\/?$/, ''), location.origin);

  const state = {
    etag: null,
    snapshot: null,
    failures: 0,
    failingSince: null,
    failure: null,
    authProblem: null,
    history: new Map(), // queue key -> [{ t, v }] (v = items in queue)
    backfilled: new Set(),
    tiles: new Map(),
    timer: null,
    bannerKey: '',
  };

  // ------------------------------------------------------------ formatting
  const pad = (n) => String(n).padStart(2, '0');
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '–';
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  }
  const count = (n) => (n === null || n === undefined ? '–' : String(n));
  function timeOfDay(ms) {
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 90) return `${s} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    return `${Math.round(s / 3600)} h ago`;
  }
  const levelOf = (q) => (LEVELS[q.level] ? q.level : 'unknown');
  const sourceName = (s) => SOURCE_NAMES[s] || s;

  // ------------------------------------------------------------ filters
  const pageParams = () => new URLSearchParams(location.search);
  // A filter may repeat (?source=a&source=b) or list (?source=a,b).
  function values(params, name) {
    return params.getAll(name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  }
  function snapshotUrl() {
    const page = pageParams();
    const query = new URLSearchParams();
    for (const name of API_FILTERS) for (const v of values(page, name)) query.append(name, v);
    const url = new URL('v1/snapshot', apiRoot);
    url.search = query.toString();
    return url;
  }
  function shownLevels() {
    const wanted = values(pageParams(), 'level');
    return wanted.length ? new Set(wanted) : null;
  }
  // A chip picks sources or Connect instances: the API ANDs its filters,
  // so choosing one kind clears the other.
  function setSources(sources, name = 'source') {
    const page = pageParams();
    page.delete('source');
    page.delete('instanceId');
    for (const s of sources) page.append(name, s);
    const query = page.toString();
    history.replaceState(null, '', location.pathname + (query ? `?${query}` : ''));
    state.etag = null; // a different question: the old ETag does not answer it
    pollNow();
  }

  // ------------------------------------------------------------ sign-in
  const auth = settings.signIn ? signIn(settings.signIn) : null;

  function signIn(config) {
    const TOKENS = 'queue-stats.wallboard.tokens';
    const PKCE = 'queue-stats.wallboard.pkce';
    const LAST_TRY = 'queue-stats.wallboard.last-sign-in';
    const redirectUri = location.origin + location.pathname.replace(/\/$/, '');
    const b64url = (bytes) =>
      btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
    const load = () => {
      try { return JSON.parse(localStorage.getItem(TOKENS)); } catch (e) { return null; }
    };
    let tokens = load();
    let refreshing = null;

    async function tokenRequest(form) {
      const res = await fetch(`${config.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form),
        cache: 'no-store',
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok || !body.access_token) {
        throw new Error(body.error_description || body.error || `the token endpoint answered ${res.status}`);
      }
      tokens = {
        access: body.access_token,
        // A refresh answer carries no new refresh token: keep the old one.
        refresh: body.refresh_token || (tokens && tokens.refresh),
        expiresAt: Date.now() + (Number(body.expires_in) || 3600) * 1000,
      };
      localStorage.setItem(TOKENS, JSON.stringify(tokens));
    }

    async function redirect() {
      // Never loop: a second automatic redirect within a minute waits for a click.
      const last = Number(sessionStorage.getItem(LAST_TRY) || 0);
      if (Date.now() - last < 60000) {
        problem('Sign-in is needed to see the queues.', true);
        return;
      }
      await start();
    }

    async function start() {
      sessionStorage.setItem(LAST_TRY, String(Date.now()));
      const verifier = random(48);
      const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
      const stateParam = random(16);
      sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state: stateParam, search: location.search }));
      const url = new URL(`${config.url}/oauth2/authorize`);
      url.search = new URLSearchParams({
        response_type: 'code',
        client_id: config.clientId,
        redirect_uri: redirectUri,
        scope: 'openid',
        state: stateParam,
        code_challenge: b64url(new Uint8Array(digest)),
        code_challenge_method: 'S256',
      }).toString();
      location.assign(url.toString());
    }

    function problem(message, offerButton) {
      state.authProblem = { message, offerButton };
      renderBanners(true);
    }

    return {
      // Finishes a sign-in this page load is the callback of, if it is one.
      async complete() {
        const params = pageParams();
        if (!params.has('code') && !params.has('error')) return;
        let saved = null;
        try { saved = JSON.parse(sessionStorage.getItem(PKCE)); } catch (e) { saved = null; }
        sessionStorage.removeItem(PKCE);
        // The one-time code leaves the address bar; the filters come back.
        history.replaceState(null, '', location.pathname + ((saved && saved.search) || ''));
        if (params.has('error')) {
          problem(`Sign-in failed: ${params.get('error_description') || params.get('error')}`, true);
          return;
        }
        if (!saved || saved.state !== params.get('state')) {
          problem('That sign-in could not be verified (it was not started here).', true);
          return;
        }
        try {
          await tokenRequest({
            grant_type: 'authorization_code',
            client_id: config.clientId,
            code: params.get('code'),
            redirect_uri: redirectUri,
            code_verifier: saved.verifier,
          });
          sessionStorage.removeItem(LAST_TRY);
          state.authProblem = null;
        } catch (e) {
          problem(`Sign-in failed: ${e.message}`, true);
        }
      },
      // A token fresh for at least a minute, refreshing it if need be;
      // null when the viewer must sign in (and that has been started).
      async token() {
        if (tokens && tokens.access && tokens.expiresAt - 60000 > Date.now()) return tokens.access;
        if (tokens && tokens.refresh && (await this.refresh())) return tokens.access;
        if (!state.authProblem) await redirect();
        return null;
      },
      // One refresh at a time: the poll and the sparkline loads that find
      // the token old together share it.
      refresh() {
        if (!tokens || !tokens.refresh) return Promise.resolve(false);
        if (!refreshing) {
          refreshing = tokenRequest({ grant_type: 'refresh_token', client_id: config.clientId, refresh_token: tokens.refresh })
            .then(() => true, () => {
              tokens = null;
              localStorage.removeItem(TOKENS);
              return false;
            })
            .finally(() => { refreshing = null; });
        }
        return refreshing;
      },
      forget() {
        tokens = null;
        localStorage.removeItem(TOKENS);
      },
      start,
      signOut() {
        this.forget();
        const url = new URL(`${config.url}/logout`);
        url.search = new URLSearchParams({ client_id: config.clientId, logout_uri: redirectUri }).toString();
        location.assign(url.toString());
      },
    };
  }

  // Every API call: the token when signing in, no HTTP cache (the ETag is
  // ours to send), one retry with a refreshed token after a 401.
  async function apiFetch(url, headers) {
    const init = { cache: 'no-store', headers: Object.assign({}, headers) };
    if (auth) {
      const token = await auth.token();
      if (!token) return null;
      init.headers.Authorization = `Bearer ${token}`;
    }
    let res = await fetch(url, init);
    if (res.status === 401 && auth) {
      if (await auth.refresh()) {
        init.headers.Authorization = `Bearer ${await auth.token()}`;
        res = await fetch(url, init);
      }
      if (res.status === 401) {
        auth.forget();
        await auth.token(); // starts a sign-in
        return null;
      }
    }
    return res;
  }

  // ------------------------------------------------------------ polling
  function pollNow() {
    clearTimeout(state.timer);
    state.timer = setTimeout(poll, 0);
  }

  async function poll() {
    let delay = POLL_MS;
    try {
      const res = await apiFetch(snapshotUrl(), state.etag ? { 'If-None-Match': state.etag } : {});
      if (res === null) {
        delay = MAX_RETRY_MS; // waiting for a sign-in
      } else if (res.status === 304) {
        succeeded();
      } else if (res.ok) {
        const snapshot = await res.json();
        state.etag = res.headers.get('etag');
        succeeded();
        render(snapshot);
      } else {
        let detail = `HTTP ${res.status}`;
        const body = await res.json().catch(() => null);
        if (body && body.error && body.error.code) detail += ` ${body.error.code}`;
        // A refused question (a filter in the address, say) says what is wrong.
        if (res.status < 500 && body && body.error && body.error.message) detail += `: ${body.error.message}`;
        if ((res.status === 401 || res.status === 403) && !auth) {
          detail += ': the API needs credentials this page does not have (deploy with ApiAuthorization=COGNITO for a signed-in board)';
        }
        delay = failed(detail);
      }
    } catch (e) {
      delay = failed(`no answer (${e.message})`);
    }
    renderClock();
    renderBanners();
    clearTimeout(state.timer);
    state.timer = setTimeout(poll, delay);
  }

  function succeeded() {
    state.failures = 0;
    state.failingSince = null;
    state.failure = null;
  }

  function failed(detail) {
    state.failures += 1;
    if (!state.failingSince) state.failingSince = Date.now();
    state.failure = detail;
    const backoff = POLL_MS * 2 ** Math.min(state.failures - 1, 6);
    return Math.min(backoff, MAX_RETRY_MS) * (0.8 + Math.random() * 0.4);
  }

  // ------------------------------------------------------------ drawing
  // A queue is its source and id: two sources may report one id.
  function keyOf(q) {
    return `${q.source}:${q.queueId}`;
  }

  function render(snapshot) {
    state.snapshot = snapshot;
    // Which snapshot is on screen, for whoever automates the page.
    document.body.dataset.snapshotId = snapshot.snapshotId;
    const observed = Date.parse(snapshot.observedAt);
    for (const q of snapshot.queues) record(keyOf(q), observed, q);
    const levels = shownLevels();
    const queues = snapshot.queues
      .filter((q) => !levels || levels.has(levelOf(q)))
      .sort(worstFirst);
    const seen = new Set();
    for (const q of queues) {
      const key = keyOf(q);
      let tile = state.tiles.get(key);
      if (!tile) {
        tile = makeTile(q);
        state.tiles.set(key, tile);
      }
      fillTile(tile, q);
      drawSpark(tile, key);
      board.appendChild(tile); // moves an existing tile into sorted place
      seen.add(key);
    }
    for (const [id, tile] of state.tiles) {
      if (!seen.has(id)) {
        tile.remove();
        state.tiles.delete(id);
      }
    }
    el('empty').hidden = queues.length > 0;
    renderTotals(queues);
    renderFilters(snapshot);
    backfill(queues);
  }

  function worstFirst(a, b) {
    const rank = LEVELS[levelOf(a)].rank - LEVELS[levelOf(b)].rank;
    if (rank) return rank;
    const oldest = (b.oldestItem ?? -1) - (a.oldestItem ?? -1);
    if (oldest) return oldest;
    const waiting = (b.itemsInQueue ?? -1) - (a.itemsInQueue ?? -1);
    if (waiting) return waiting;
    return String(a.queueName).localeCompare(String(b.queueName));
  }

  function makeTile(q) {
    const tile = document.createElement('article');
    tile.className = 'tile';
    tile.dataset.queueId = q.queueId;
    tile.dataset.source = q.source;
    tile.innerHTML =
      '<div class="head"><h2 class="name"></h2><span class="badge"><span class="icon" aria-hidden="true"></span><span class="label"></span></span></div>' +
      '<div class="meta"><span class="where"></span><span class="closed-tag"></span><span class="stale-tag"></span></div>' +
      '<dl class="figures">' +
      '<div><dt>Waiting</dt><dd data-field="itemsInQueue"></dd></div>' +
      '<div><dt>Oldest</dt><dd data-field="oldestItem"></dd></div>' +
      '<div><dt>Est. wait</dt><dd data-field="estimatedWaitTime"></dd></div>' +
      '<div><dt>Free / staffed</dt><dd data-field="agents"></dd></div>' +
      '</dl><div class="today"></div><div class="accuracy"></div><div class="spark-box"><span class="spark-label"></span></div>';
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 100 24');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    svg.appendChild(document.createElementNS(SVG, 'polygon'));
    svg.appendChild(document.createElementNS(SVG, 'polyline'));
    tile.querySelector('.spark-box').prepend(svg);
    return tile;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function fillTile(tile, q) {
    const level = levelOf(q);
    tile.className = `tile level-${level}${q.stale ? ' stale' : ''}`;
    tile.dataset.level = level;
    tile.dataset.source = q.source;
    if (q.instanceId) tile.dataset.instanceId = q.instanceId;
    setText(tile.querySelector('.name'), q.queueName || q.queueId);
    setText(tile.querySelector('.icon'), LEVELS[level].icon);
    setText(tile.querySelector('.label'), LEVELS[level].label);
    // A Connect queue says which instance it is in, by its alias.
    const where = [sourceName(q.source), q.instanceAlias, q.taskType].filter(Boolean).join(' · ');
    setText(tile.querySelector('.where'), where);
    const closed = /CLOSED/.test(q.openClosedState || '');
    setText(tile.querySelector('.closed-tag'), closed ? 'Closed' : '');
    setText(tile.querySelector('.today'), today(q.intraday));
    setText(tile.querySelector('.accuracy'), accuracy(q.estimateAccuracy));
    const asOf = q.asOf ? ` · as of ${timeOfDay(Date.parse(q.asOf))}` : '';
    setText(tile.querySelector('.stale-tag'), q.stale ? `Stale${asOf}` : '');
    const field = (name) => tile.querySelector(`[data-field="${name}"]`);
    setText(field('itemsInQueue'), count(q.itemsInQueue));
    setText(field('oldestItem'), duration(q.oldestItem));
    setText(field('estimatedWaitTime'), duration(q.estimatedWaitTime));
    // Free agents in full size, staffed smaller: it fits a tile's half.
    const agents = field('agents');
    if (!agents.firstChild) agents.append(document.createTextNode(''), document.createElement('small'));
    setText(agents.firstChild, count(q.agentsAvailable));
    setText(agents.lastChild, ` / ${count(q.agentsStaffed)}`);
    tile.setAttribute(
      'aria-label',
      `${q.queueName}: ${LEVELS[level].label}${q.stale ? ', stale' : ''}, ${count(q.itemsInQueue)} waiting`,
    );
  }

  // How far off the wait estimate was over the last hour, scored against
  // answered contacts (Connect, with contact events on): the mean error,
  // and which way it leans when it leans.
  function accuracy(scored) {
    if (!scored || !scored.contacts || scored.maeSeconds === null || scored.maeSeconds === undefined) return '';
    const bias = Math.round(scored.biasSeconds || 0);
    const lean = bias === 0 ? '' : `, ${bias > 0 ? 'long' : 'short'} by ${Math.abs(bias)} s`;
    return `Estimate ±${Math.round(scored.maeSeconds)} s over ${scored.contacts} answered${lean}`;
  }

  // Today so far, where the source keeps it (Connect): service level per
  // threshold, handled and abandoned.
  function today(intraday) {
    if (!intraday) return '';
    const parts = Object.entries(intraday.serviceLevel || {})
      .filter(([, pct]) => pct !== null && pct !== undefined)
      .sort(([a], [b]) => Number(a) - Number(b))
      .slice(0, 3)
      .map(([threshold, pct]) => `SL ${threshold} s ${Math.round(pct)}%`);
    if (intraday.contactsHandled !== null && intraday.contactsHandled !== undefined) parts.push(`${intraday.contactsHandled} handled`);
    if (intraday.contactsAbandoned !== null && intraday.contactsAbandoned !== undefined) parts.push(`${intraday.contactsAbandoned} abandoned`);
    return parts.length ? `Today: ${parts.join(' · ')}` : '';
  }

  // ------------------------------------------------------------ sparklines
  function record(id, t, q) {
    if (q.stale || q.itemsInQueue === null || q.itemsInQueue === undefined || Number.isNaN(t)) return;
    const points = state.history.get(id) || [];
    if (!points.length || points[points.length - 1].t < t) points.push({ t, v: q.itemsInQueue });
    trim(points);
    state.history.set(id, points);
  }

  function trim(points) {
    const from = Date.now() - WINDOW_MS;
    let drop = 0;
    while (drop < points.length && points[drop].t < from) drop += 1;
    if (drop) points.splice(0, drop);
  }

  function drawSpark(tile, id) {
    const points = state.history.get(id) || [];
    const svg = tile.querySelector('svg');
    const line = svg.querySelector('polyline');
    const area = svg.querySelector('polygon');
    const label = tile.querySelector('.spark-label');
    if (points.length < 2) {
      line.setAttribute('points', '');
      area.setAttribute('points', '');
      setText(label, '');
      svg.setAttribute('aria-label', 'waiting over the last hour: not enough data yet');
      return;
    }
    // The line spans what is known, up to the window, and ends at the
    // latest poll: a board opened on a young deployment draws its first
    // minutes across the whole width. (Old data is flagged by the board.)
    const to = points[points.length - 1].t;
    const from = Math.max(to - WINDOW_MS, points[0].t);
    const span = Math.max(to - from, 1);
    const over = span < 90000 ? `${Math.round(span / 1000)} s` : `${Math.round(span / 60000)} min`;
    const max = Math.max(1, ...points.map((p) => p.v));
    const xy = points.map((p) => [((p.t - from) / span) * 100, 23 - (p.v / max) * 21]);
    const text = xy.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(' ');
    line.setAttribute('points', text);
    area.setAttribute('points', `${xy[0][0].toFixed(2)},24 ${text} ${xy[xy.length - 1][0].toFixed(2)},24`);
    setText(label, `peak ${max} · ${over}`);
    svg.setAttribute('aria-label', `waiting over the last ${over}, peak ${max}`);
  }

  // Each tile's past hour is asked for once, a few at a time; a failure
  // is asked again with a later snapshot.
  const backfillQueue = [];
  let backfillRunning = 0;
  function backfill(queues) {
    for (const q of queues.slice(0, BACKFILL_TILES)) {
      const key = keyOf(q);
      if (state.backfilled.has(key)) continue;
      state.backfilled.add(key);
      backfillQueue.push(q);
    }
    while (backfillRunning < BACKFILL_PARALLEL && backfillQueue.length) {
      const q = backfillQueue.shift();
      backfillRunning += 1;
      loadHistory(q).finally(() => {
        backfillRunning -= 1;
        backfill([]);
      });
    }
  }

  async function loadHistory(q) {
    const id = keyOf(q);
    const url = new URL(`v1/queues/${encodeURIComponent(q.queueId)}/history`, apiRoot);
    url.search = `minutes=${settings.historyMinutes}&source=${encodeURIComponent(q.source)}`;
    try {
      const res = await apiFetch(url, {});
      if (!res || !res.ok) {
        if (!res || res.status >= 500 || res.status === 429) state.backfilled.delete(id);
        return;
      }
      const body = await res.json();
      const merged = new Map((state.history.get(id) || []).map((p) => [p.t, p]));
      for (const p of body.points || []) {
        const t = Date.parse(p.observedAt);
        const v = p.queue && p.queue.itemsInQueue;
        if (!Number.isNaN(t) && v !== null && v !== undefined && !p.queue.stale) merged.set(t, { t, v });
      }
      const points = [...merged.values()].sort((a, b) => a.t - b.t);
      trim(points);
      state.history.set(id, points);
      const tile = state.tiles.get(id);
      if (tile) drawSpark(tile, id);
    } catch (e) {
      state.backfilled.delete(id);
    }
  }

  // ------------------------------------------------------------ header
  function renderTotals(queues) {
    const sum = (f) => queues.reduce((n, q) => n + (q[f] || 0), 0);
    const levels = { critical: 0, warning: 0 };
    for (const q of queues) if (levelOf(q) in levels) levels[levelOf(q)] += 1;
    const totals = el('totals');
    totals.replaceChildren(
      ...[
        ['', `${queues.length}`, queues.length === 1 ? 'queue' : 'queues'],
        ['', `${sum('itemsInQueue')}`, 'waiting'],
        ['', `${sum('agentsAvailable')}`, 'agents free'],
        ['critical', `▲ ${levels.critical}`, 'critical'],
        ['warning', `◆ ${levels.warning}`, 'warning'],
      ].map(([cls, value, label]) => {
        const span = document.createElement('span');
        span.className = cls;
        const b = document.createElement('b');
        b.textContent = value;
        span.append(b, ` ${label}`);
        return span;
      }),
    );
  }

  function renderFilters(snapshot) {
    const chosen = new Set(values(pageParams(), 'source'));
    const chosenInstances = new Set(values(pageParams(), 'instanceId'));
    const sources = snapshot.sources.map((s) => s.instanceId || s.source);
    const key = JSON.stringify([
      sources,
      [...chosen],
      [...chosenInstances],
      snapshot.sources.map((s) => [s.status, s.instanceAlias]),
    ]);
    const nav = el('filters');
    if (nav.dataset.key === key) return;
    nav.dataset.key = key;
    const chip = (label, pressed, onClick, failing) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = label;
      button.setAttribute('aria-pressed', String(pressed));
      if (failing) button.classList.add('failing');
      button.addEventListener('click', onClick);
      return button;
    };
    const all = chip('All', chosen.size === 0 && chosenInstances.size === 0, () => setSources([]));
    all.dataset.source = '';
    nav.replaceChildren(
      all,
      ...snapshot.sources.map((s) => {
        if (s.instanceId) {
          // One chip per Connect instance, named by its alias.
          const button = chip(`${sourceName(s.source)} · ${s.instanceAlias || s.instanceId}`,
            chosenInstances.has(s.instanceId), () => {
              const next = new Set(chosenInstances);
              if (next.has(s.instanceId)) next.delete(s.instanceId);
              else next.add(s.instanceId);
              setSources([...next], 'instanceId');
            }, s.status !== 'ok');
          button.dataset.source = s.source;
          button.dataset.instanceId = s.instanceId;
          return button;
        }
        const button = chip(sourceName(s.source), chosen.has(s.source), () => {
          const next = new Set(chosen);
          if (next.has(s.source)) next.delete(s.source);
          else next.add(s.source);
          setSources([...next]);
        }, s.status !== 'ok');
        button.dataset.source = s.source;
        return button;
      }),
    );
  }

  function renderClock() {
    const snapshot = state.snapshot;
    const now = Date.now();
    let mode = 'loading';
    let text = 'Waiting for the first snapshot…';
    if (snapshot) {
      const observed = Date.parse(snapshot.observedAt);
      const old = now - observed > STALE_MS;
      mode = state.failure ? 'offline' : old ? 'stale' : 'live';
      text = `Data from ${timeOfDay(observed)} · ${ago(now - observed)}`;
    } else if (state.failure) {
      mode = 'offline';
    }
    document.body.dataset.state = mode;
    setText(el('data-time'), text);
  }

  function renderBanners(force) {
    const banners = [];
    if (state.authProblem) {
      banners.push({ kind: 'error', text: state.authProblem.message, signIn: state.authProblem.offerButton });
    }
    if (state.failure) {
      const keep = state.snapshot ? ' Showing the last data received;' : '';
      banners.push({
        kind: 'error',
        id: 'offline',
        text: `No fresh queue data since ${timeOfDay(state.failingSince)} (${state.failure}).${keep} retrying by itself.`,
      });
    } else if (state.snapshot && Date.now() - Date.parse(state.snapshot.observedAt) > STALE_MS) {
      banners.push({
        kind: 'warn',
        id: 'stale',
        text: `The latest data is ${ago(Date.now() - Date.parse(state.snapshot.observedAt)).replace(' ago', '')} old: the poller may have stopped.`,
      });
    }
    for (const s of (state.snapshot && state.snapshot.sources) || []) {
      if (s.status === 'ok') continue;
      const why = s.error ? `${s.error.code}: ${s.error.message}` : 'no answer';
      banners.push({
        kind: 'warn',
        id: `source-${s.source}${s.instanceId ? `-${s.instanceId}` : ''}`,
        text: `${sourceName(s.source)}${s.instanceId ? ` (${s.instanceAlias || s.instanceId})` : ''} is failing (${why}). Its ${s.queueCount} queues show their last figures, marked stale.`,
      });
    }
    const key = JSON.stringify(banners);
    if (!force && key === state.bannerKey) return;
    state.bannerKey = key;
    el('banners').replaceChildren(
      ...banners.map((b) => {
        const div = document.createElement('div');
        div.className = `banner ${b.kind}`;
        if (b.id) div.dataset.banner = b.id;
        div.textContent = b.text;
        if (b.signIn && auth) {
          const button = document.createElement('button');
          button.type = 'button';
          button.textContent = 'Sign in';
          button.addEventListener('click', () => auth.start());
          div.append(button);
        }
        return div;
      }),
    );
  }

  // ------------------------------------------------------------ start
  const title = pageParams().get('title');
  if (title) {
    el('title').textContent = title;
    document.title = `${title} · wallboard`;
  }
  if (auth) {
    const out = el('sign-out');
    out.hidden = false;
    out.addEventListener('click', () => auth.signOut());
  }
  // The clock and the sparklines' time axis move every second.
  setInterval(() => {
    renderClock();
    renderBanners();
  }, 1000);
  setInterval(() => {
    for (const [id, tile] of state.tiles) drawSpark(tile, id);
  }, 30000);
  (auth ? auth.complete() : Promise.resolve()).then(poll, poll);
})();
