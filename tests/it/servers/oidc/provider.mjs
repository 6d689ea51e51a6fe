// A real OpenID Connect provider for the tests: node's oidc-provider (a
// certified implementation) with its development sign-in pages, which take
// any login name (the password is ignored). One confidential client, the
// gateway. Every account has a verified email `<login>@example.com` unless
// the login is already an address; a login ending in "+mfa" signs in as if
// with a second factor (amr: pwd, mfa). Ending a session here (RP-initiated
// logout, /session/end) posts a logout token to the gateway's back-channel
// endpoint, next to its callback; signing out comes back to its login page.
// The `groups` scope lists the account's groups here (GROUPS), in userinfo,
// as Okta's groups claim does.
//
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const GROUPS = {
  sam: ['CRM-Sales', 'Everyone'],
  ada: ['CRM-Admins', 'CRM-Sales', 'Everyone'],
  guest: ['Everyone'],
};

const account = (id) => ({
  accountId: id,
  async claims() {
    const login = id.replace(/\+mfa$/, '');
    return {
      sub: id,
      email: login.includes('@') ? login : `${login}@example.com`,
      email_verified: true,
      preferred_username: login,
      groups: GROUPS[login.replace(/@.*/, '')] ?? [],
    };
  },
});

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [new URL('/.portcullis/login', redirectUri).href],
    backchannel_logout_uri: redirectUri.replace(/\/callback$/, '/backchannel-logout'),
    backchannel_logout_session_required: true,
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  async findAccount(ctx, id) { return account(id); },
  // amr in every ID token (as Okta's and Entra's are), so that the gateway
  // can see how the user signed in.
  claims: {
    acr: null, auth_time: null, sid: null,
    openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['preferred_username'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: ['a key for tests only'] },
  // Its outgoing requests (the back-channel logouts) refuse loopback
  // addresses, against SSRF; the gateway under test is on loopback.
  fetch: (url, options) => globalThis.fetch(url, { ...options, dispatcher: undefined }),
});
// The development pages finish a login with the account alone; say how it
// was proven, as a provider's own sign-in would.
const finished = provider.interactionFinished.bind(provider);
provider.interactionFinished = (req, res, result, options) => {
  if (result.login) {
    result.login.amr = result.login.accountId.endsWith('+mfa') ? ['pwd', 'mfa'] : ['pwd'];
  }
  return finished(req, res, result, options);
};
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (ctx, err, client) => console.error('backchannel.error', client.clientId, err.message, err.cause));
provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
