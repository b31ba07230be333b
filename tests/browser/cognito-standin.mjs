// A stand-in for a Cognito user pool's hosted UI, as much of it as the
// wallboard uses: /oauth2/authorize (signs the user in at once and
// redirects back with a code), /oauth2/token (authorization_code with
// PKCE S256, refresh_token) and /logout. It checks what Cognito checks:
// the client id, the redirect URI and the code verifier against the
// challenge; a code works once. Every request is logged for the tests.
import crypto from 'node:crypto';
import http from 'node:http';

const b64url = (buffer) => buffer.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export async function startCognito({ clientId, expiresIn = 3600 }) {
  const codes = new Map();
  const refreshTokens = new Set();
  const log = [];
  let issued = 0;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://standin');
    // The token endpoint is called from the page's origin: CORS.
    const cors = { 'access-control-allow-origin': '*' };
    const json = (status, body) => {
      res.writeHead(status, { ...cors, 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/oauth2/authorize' && req.method === 'GET') {
      const p = url.searchParams;
      log.push({ path: url.pathname, params: Object.fromEntries(p) });
      if (p.get('client_id') !== clientId || p.get('response_type') !== 'code'
        || p.get('code_challenge_method') !== 'S256' || !p.get('code_challenge') || !p.get('redirect_uri')) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('invalid authorize request');
        return;
      }
      const code = crypto.randomUUID();
      codes.set(code, { challenge: p.get('code_challenge'), redirectUri: p.get('redirect_uri') });
      const back = new URL(p.get('redirect_uri'));
      back.searchParams.set('code', code);
      if (p.has('state')) back.searchParams.set('state', p.get('state'));
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    if (url.pathname === '/oauth2/token' && req.method === 'POST') {
      let text = '';
      for await (const chunk of req) text += chunk;
      const form = new URLSearchParams(text);
      log.push({ path: url.pathname, params: Object.fromEntries(form), contentType: req.headers['content-type'] });
      if (form.get('client_id') !== clientId) return json(400, { error: 'invalid_client' });
      const grant = form.get('grant_type');
      if (grant === 'authorization_code') {
        const entry = codes.get(form.get('code'));
        codes.delete(form.get('code'));
        if (!entry) return json(400, { error: 'invalid_grant', error_description: 'unknown or used code' });
        const challenge = b64url(crypto.createHash('sha256').update(form.get('code_verifier') || '').digest());
        if (challenge !== entry.challenge) return json(400, { error: 'invalid_grant', error_description: 'code verifier does not match' });
        if (form.get('redirect_uri') !== entry.redirectUri) return json(400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
        const refresh = `refresh-${crypto.randomUUID()}`;
        refreshTokens.add(refresh);
        issued += 1;
        return json(200, { access_token: `access-${issued}`, id_token: `id-${issued}`, refresh_token: refresh, expires_in: expiresIn, token_type: 'Bearer' });
      }
      if (grant === 'refresh_token') {
        if (!refreshTokens.has(form.get('refresh_token'))) return json(400, { error: 'invalid_grant' });
        issued += 1;
        // As Cognito does: no new refresh token on a refresh.
        return json(200, { access_token: `access-${issued}`, id_token: `id-${issued}`, expires_in: expiresIn, token_type: 'Bearer' });
      }
      return json(400, { error: 'unsupported_grant_type' });
    }
    if (url.pathname === '/logout' && req.method === 'GET') {
      log.push({ path: url.pathname, params: Object.fromEntries(url.searchParams) });
      res.writeHead(302, { location: url.searchParams.get('logout_uri') });
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
