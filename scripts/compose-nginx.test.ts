import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { COMPOSE_NGINX_DIR, COMPOSE_NGINX_PREFIX, composeNginxFiles } from './compose-nginx.mjs'

describe('docker compose\'s NGINX config', () => {
  const files = composeNginxFiles()

  it('is what nginx/*.template render to now (node scripts/compose-nginx.mjs --write)', () => {
    expect(readdirSync(COMPOSE_NGINX_DIR).sort()).toEqual(Object.keys(files).sort())
    for (const [name, text] of Object.entries(files)) {
      expect(readFileSync(join(COMPOSE_NGINX_DIR, name), 'utf8'), `deploy/compose/nginx/${name} is stale`).toBe(text)
    }
  })

  it('listens on 8080 for every address, proxies to the web service, and fills every placeholder', () => {
    expect(files['nginx.conf']).toContain('listen 0.0.0.0:8080;')
    expect(files['nginx.conf']).toMatch(/upstream web \{[^}]*server web:3000 /)
    expect(files['nginx.conf']).toContain(`include ${COMPOSE_NGINX_PREFIX}/conf/locations.conf;`)
    expect(files['nginx.conf']).toContain('access_log /dev/stdout main;')
    for (const text of Object.values(files)) expect(text).not.toMatch(/\$\{[A-Z_]+\}/)
  })

  it('is mounted where it says and started with its own nginx.conf by docker-compose.yml', () => {
    const compose = readFileSync('docker-compose.yml', 'utf8')
    expect(compose).toContain(`./deploy/compose/nginx:${COMPOSE_NGINX_PREFIX}/conf:ro`)
    expect(compose).toContain(`-c ${COMPOSE_NGINX_PREFIX}/conf/nginx.conf`)
  })
})
