import { describe, expect, it } from 'vitest'
import { loadConfig, parseConfig } from './config'

describe('parseConfig', () => {
  it('reads the stack’s document', () => {
    const c = parseConfig({
      apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/',
      region: 'eu-west-1',
      oidc: {
        authority: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X',
        clientId: 'c1',
        scope: 'openid email profile',
        endSessionEndpoint: 'https://iris.auth.eu-west-1.amazoncognito.com/logout',
        logoutParams: { client_id: 'c1', logout_uri: 'https://d.cloudfront.net/' },
      },
    })
    expect(c.apiUrl).toBe('https://abc.execute-api.eu-west-1.amazonaws.com')
    expect(c.oidc?.clientId).toBe('c1')
    expect(c.oidc?.logoutParams?.logout_uri).toBe('https://d.cloudfront.net/')
  })

  it('defaults the scope and keeps the API on the page’s origin', () => {
    const c = parseConfig({ oidc: { authority: 'http://127.0.0.1:9/', clientId: 'web' } })
    expect(c).toEqual({ apiUrl: '', oidc: { authority: 'http://127.0.0.1:9/', clientId: 'web', scope: 'openid profile email' } })
  })

  it.each([
    [[], 'not a JSON object'],
    [{ apiUrl: 'javascript:alert(1)' }, 'apiUrl'],
    [{ oidc: { clientId: 'x' } }, 'oidc.authority'],
    [{ oidc: { authority: 'ftp://x', clientId: 'x' } }, 'oidc.authority'],
    [{ oidc: { authority: 'https://x' } }, 'oidc.clientId'],
    [{ oidc: { authority: 'https://x', clientId: 'c', redirectUri: 'javascript:x' } }, 'oidc.redirectUri'],
    [{ oidc: { authority: 'https://x', clientId: 'c', logoutParams: { a: 1 } } }, 'oidc.logoutParams'],
  ])('refuses %j', (doc, field) => {
    expect(() => parseConfig(doc)).toThrow(field)
  })
})

describe('loadConfig', () => {
  const serve = (status: number, body: string) => (async () => new Response(body, { status })) as unknown as typeof fetch
  it('runs without sign-in when there is no config.json', async () => {
    expect(await loadConfig(serve(404, 'not found'), 'http://api')).toEqual({ apiUrl: 'http://api' })
  })
  it('fails on a broken config.json rather than guessing', async () => {
    await expect(loadConfig(serve(200, '<html>'))).rejects.toThrow('not JSON')
    await expect(loadConfig(serve(500, ''))).rejects.toThrow('500')
  })
})
