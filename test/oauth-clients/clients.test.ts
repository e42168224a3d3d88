/** ClientService.add (DESIGN "Clients, grown"): defaults, and every refusal with its code. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkClientScope, createClientService, MAX_CLIENT_SCOPE_LENGTH } from '../../src/oauth-clients/clients.js';
import { CLIENT_DEFAULTS } from '../../src/oauth-clients/types.js';
import { MemoryStore } from '../../src/stores/memory.js';

function service() {
  const store = new MemoryStore();
  return { store, clients: createClientService(store, { clock: () => 42 }) };
}

const refusedWith = (code: string) => ({ name: 'ClientInputError', code });

describe('ClientService.add', () => {
  test('without a redirect URI: password and refresh_token, no scope, not first-party, no DPoP', async () => {
    const { clients, store } = service();
    const { client, secret } = await clients.add('cli');
    assert.equal(secret, undefined);
    assert.deepEqual(client, {
      clientId: 'cli',
      clientType: 'public',
      secretHash: '',
      introspect: false,
      createdAt: 42,
      redirectUris: [],
      postLogoutRedirectUris: [],
      grantTypes: ['password', 'refresh_token'],
      scope: '',
      firstParty: false,
      dpopBoundAccessTokens: false,
    });
    assert.deepEqual(await store.getClient('cli'), client);
  });

  test('with a redirect URI: authorization_code and refresh_token by default', async () => {
    const { clients } = service();
    const { client } = await clients.add('spa', { redirectUris: ['https://spa.example.com/cb'] });
    assert.deepEqual(client.grantTypes, ['authorization_code', 'refresh_token']);
    assert.deepEqual(client.redirectUris, ['https://spa.example.com/cb']);
    assert.equal(client.firstParty, false);
  });

  test('every option is stored as given', async () => {
    const { clients, store } = service();
    const { client, secret } = await clients.add('web', {
      confidential: true,
      introspect: true,
      redirectUris: ['https://web.example.com/cb', 'http://127.0.0.1/cb'],
      postLogoutRedirectUris: ['https://web.example.com/bye'],
      grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
      scope: 'read write',
      firstParty: true,
      dpop: true,
    });
    assert.match(secret ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      { ...client, secretHash: undefined },
      {
        clientId: 'web',
        clientType: 'confidential',
        secretHash: undefined,
        introspect: true,
        createdAt: 42,
        redirectUris: ['https://web.example.com/cb', 'http://127.0.0.1/cb'],
        postLogoutRedirectUris: ['https://web.example.com/bye'],
        grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
        scope: 'read write',
        firstParty: true,
        dpopBoundAccessTokens: true,
      },
    );
    assert.deepEqual(await store.getClient('web'), client);
  });

  test("the caller's arrays are copied: changing them later changes no record", async () => {
    const { clients, store } = service();
    const uris = ['https://a.example.com/cb'];
    const grants = ['authorization_code'];
    await clients.add('a', { redirectUris: uris, grantTypes: grants });
    uris.push('https://evil.example/');
    grants.push('password');
    const stored = await store.getClient('a');
    assert.deepEqual(stored?.redirectUris, ['https://a.example.com/cb']);
    assert.deepEqual(stored?.grantTypes, ['authorization_code']);
  });

  test('the built-in default client keeps the password and refresh_token grants (CLIENT_DEFAULTS) and is first-party', async () => {
    const { clients } = service();
    const builtIn = await clients.get('tessera');
    assert.deepEqual(builtIn?.grantTypes, ['password', 'refresh_token']);
    assert.equal(builtIn?.firstParty, CLIENT_DEFAULTS.firstParty);
    builtIn?.grantTypes.push('client_credentials');
    assert.deepEqual((await clients.get('tessera'))?.grantTypes, ['password', 'refresh_token'], 'a copy every time');
  });

  test('client_credentials needs a confidential client (RFC 6749 §4.4): invalid_client_options', async () => {
    const { clients, store } = service();
    await assert.rejects(clients.add('pub', { grantTypes: ['client_credentials'] }), refusedWith('invalid_client_options'));
    const { client } = await clients.add('svc', { confidential: true, grantTypes: ['client_credentials'] });
    assert.deepEqual(client.grantTypes, ['client_credentials']);
    assert.equal(await store.getClient('pub'), null);
  });

  test('authorization_code needs a redirect URI: invalid_client_options', async () => {
    const { clients } = service();
    await assert.rejects(clients.add('x', { grantTypes: ['authorization_code'] }), refusedWith('invalid_client_options'));
    await assert.rejects(
      clients.add('x', { grantTypes: ['authorization_code'], postLogoutRedirectUris: ['https://x.example.com/'] }),
      refusedWith('invalid_client_options'),
    );
  });

  test('introspect needs a confidential client: invalid_client_options', async () => {
    const { clients } = service();
    await assert.rejects(clients.add('x', { introspect: true }), refusedWith('invalid_client_options'));
  });

  test('an unknown, repeated or empty list of grant types is invalid_grant_type', async () => {
    const { clients } = service();
    for (const grantTypes of [['implicit'], ['password', 'password'], [], ['urn:ietf:params:oauth:grant-type:device_code']]) {
      await assert.rejects(clients.add('x', { grantTypes }), refusedWith('invalid_grant_type'), JSON.stringify(grantTypes));
    }
  });

  test('a redirect URI that checkRedirectUri refuses, or one given twice, is invalid_redirect_uri (post-logout ones too)', async () => {
    const { clients, store } = service();
    for (const uri of ['http://app.example.com/cb', 'https://app.example.com/cb#x', 'myapp:/cb', 'https://u@app.example.com/']) {
      await assert.rejects(clients.add('x', { redirectUris: [uri] }), refusedWith('invalid_redirect_uri'), uri);
      await assert.rejects(clients.add('x', { postLogoutRedirectUris: [uri] }), refusedWith('invalid_redirect_uri'), uri);
    }
    await assert.rejects(
      clients.add('x', { redirectUris: ['https://a.example.com/cb', 'https://a.example.com/cb'] }),
      refusedWith('invalid_redirect_uri'),
    );
    await assert.rejects(clients.add('x', { redirectUris: ['https://a.example.com/cb', 'http://a.example.com/cb'] }), {
      code: 'invalid_redirect_uri',
      message: /plain http/,
    });
    assert.equal(await store.getClient('x'), null, 'nothing is stored when anything is refused');
  });

  test('an invalid scope is invalid_scope', async () => {
    const { clients } = service();
    for (const scope of ['read read', 'caf\u00e9', 'a"b', 'a\\b', 'x'.repeat(MAX_CLIENT_SCOPE_LENGTH + 1)]) {
      await assert.rejects(clients.add('x', { scope }), refusedWith('invalid_scope'), scope.slice(0, 20));
    }
  });
});

describe('checkClientScope (RFC 6749 §3.3)', () => {
  test('keeps space-separated NQCHAR tokens, normalizing runs of whitespace; empty is no scope', () => {
    assert.equal(checkClientScope('read write'), 'read write');
    assert.equal(checkClientScope('  read   write  '), 'read write');
    assert.equal(
      checkClientScope('openid profile urn:x:y!#$%&()*+,-./:;<=>?@[]^_`{|}~'),
      'openid profile urn:x:y!#$%&()*+,-./:;<=>?@[]^_`{|}~',
    );
    assert.equal(checkClientScope(''), '');
    assert.equal(checkClientScope('x'.repeat(MAX_CLIENT_SCOPE_LENGTH)), 'x'.repeat(MAX_CLIENT_SCOPE_LENGTH));
  });

  test('refuses a repeated token, a character outside NQCHAR and more than the maximum length', () => {
    assert.throws(() => checkClientScope('a b a'), { code: 'invalid_scope', message: /twice/ });
    assert.throws(() => checkClientScope('a\u0001b'), { code: 'invalid_scope' });
    assert.throws(() => checkClientScope('r\u00e9ad'), { code: 'invalid_scope' });
    assert.throws(() => checkClientScope(`${'x'.repeat(MAX_CLIENT_SCOPE_LENGTH)} y`), { code: 'invalid_scope', message: /1024/ });
  });
});
