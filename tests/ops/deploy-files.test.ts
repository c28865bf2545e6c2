import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import * as yaml from 'js-yaml'
import { parseConfig } from '../../server/config'
import { APP_NODE_FLAGS } from '../../scripts/lib/node-runtime.mjs'

/*
 * Docker and Kubernetes files cannot run here (no engine, no cluster, no schema downloads), so this
 * reads them and checks what would break a deployment: wrong commands, ports, probes, selectors,
 * missing services or settings. server/config.ts itself judges the configuration they hand over.
 */

/** Parsed YAML is as loosely typed as JSON.parse's result: a wrong path fails the assertion reading it. */
type Parsed = ReturnType<typeof JSON.parse>
type Doc = {
  apiVersion: string
  kind: string
  metadata: { name: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  spec?: Parsed
  data?: Record<string, string>
  stringData?: Record<string, string>
}
const read = (path: string) => readFileSync(path, 'utf8')
const tmp: string[] = []
afterAll(() => { for (const dir of tmp) rmSync(dir, { recursive: true, force: true }) })

describe('the Docker image', () => {
  const dockerfile = read('Dockerfile')
  const stages = dockerfile.split(/^FROM /m).slice(1)

  it('builds in one stage and runs as a non-root user from a slim image holding only .output and lua/', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    const runtime = stages.at(-1)!
    expect(runtime).toMatch(/^node:\d+-slim/)
    expect(runtime).toMatch(/^USER (?!root|0\b)\S+/m)
    const copies = runtime.match(/^COPY .*$/gm) ?? []
    const fromBuild = copies.filter((c) => c.includes('--from=build')).map((c) => c.split(/\s+/).at(-2))
    expect(fromBuild.sort()).toEqual(['/app/.output', '/app/lua'])
    expect(runtime).toMatch(/LUA_DIR=\/app\/lua/)
    expect(runtime).toMatch(/METRICS_HOST=0\.0\.0\.0/)
    expect(runtime).toMatch(/^CMD \["web"\]/m)
    // the same V8 flags as every process the project's scripts start
    expect(runtime).toContain(`NODE_OPTIONS=${APP_NODE_FLAGS.join(' ')} `)
    // and the same allocator
    expect(runtime).toMatch(/apt-get install [^\n]*libjemalloc2/)
    expect(runtime).toMatch(/LD_PRELOAD=\S*\/libjemalloc\.so\.2\b/)
  })

  it('builds from the same patched dependencies as `npm install` here (its postinstall applies patches/)', () => {
    const postinstall = JSON.parse(read('package.json')).scripts.postinstall as string
    expect(postinstall).toMatch(/^patch-package --error-on-fail\b/)
    expect(readdirSync('patches').filter((f) => f.endsWith('.patch')).length).toBeGreaterThan(0)
    const build = stages[0]!
    // `npm ci --ignore-scripts` skips the postinstall: the stage runs it once the sources (patches/ too) are in
    expect(build.indexOf('RUN npm run postinstall')).toBeGreaterThan(build.indexOf('COPY . .'))
    expect(build.indexOf('RUN npm run postinstall')).toBeLessThan(build.indexOf('npm run build'))
    expect(read('.dockerignore').split('\n').map((l) => l.trim())).not.toContain('patches')
  })

  it('keeps local state, dependencies and secrets out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim())
    for (const entry of ['node_modules', '.output', '.nuxt', '.git', '.env', '.data', '.stack']) expect(ignored).toContain(entry)
    expect(ignored).not.toContain('lua')
  })

  it('starts the process its command names (web, worker, migrate)', () => {
    // A stand-in `node` that prints what it was asked to run.
    const bin = mkdtempSync(join(tmpdir(), 'flash-entry-'))
    tmp.push(bin)
    writeFileSync(join(bin, 'node'), '#!/bin/sh\necho "$@"\n')
    chmodSync(join(bin, 'node'), 0o755)
    const run = (...args: string[]) =>
      execFileSync('sh', ['deploy/docker/entrypoint.sh', ...args], { env: { PATH: `${bin}:/usr/bin:/bin` } })
        .toString()
        .trim()
    expect(run()).toBe('/app/.output/server/index.mjs')
    expect(run('web')).toBe('/app/.output/server/index.mjs')
    expect(run('worker')).toBe('/app/.output/worker/index.mjs')
    expect(run('migrate')).toBe('/app/.output/worker/cli.mjs migrate')
    expect(run('audit', '--live')).toBe('/app/.output/worker/cli.mjs audit --live')
    expect(run('echo', 'hi')).toBe('hi')
  })
})

describe('docker-compose.yml', () => {
  // Compose files use YAML 1.1 merge keys (<<: *app), which js-yaml 5 resolves only in its YAML 1.1 schema
  const compose = yaml.load(read('docker-compose.yml'), { schema: yaml.YAML11_SCHEMA }) as {
    services: Record<string, Parsed>
    volumes: Record<string, unknown>
  }
  const services = compose.services
  const envOf = (name: string) => services[name].environment as Record<string, string | number>
  /** The secrets an operator must set (compose's ${VAR:?…}: no defaults). */
  const operatorSet: Record<string, string> = Object.fromEntries(
    [
      'SESSION_PASSWORD',
      'WEB_CLIENT_SECRET',
      'MYSQL_PASSWORD',
      'MYSQL_ROOT_PASSWORD',
      'KEYCLOAK_DB_PASSWORD',
      'KEYCLOAK_ADMIN_PASSWORD',
    ].map((name) => [name, randomBytes(36).toString('base64url')]),
  )
  /** Compose's ${VAR:-default} interpolation with the defaults, and ${VAR:?…} with what the operator set. */
  const interpolate = (value: string) => value
    .replace(/\$\{(\w+):-([^}]*)\}/g, (_, _name, def) => def)
    .replace(/\$\{(\w+):\?[^}]*\}/g, (_, name: string) => operatorSet[name] ?? `(unset ${name})`)

  it('has every service: MariaDB, Redis, Kafka (KRaft), Keycloak, migrations, 3 web, 2 workers, NGINX', () => {
    for (const name of ['mariadb', 'redis', 'kafka', 'kafka-topics', 'keycloak', 'migrate', 'web', 'worker', 'nginx']) {
      expect(services).toHaveProperty(name)
    }
    expect(services.web.deploy.replicas).toBe(3)
    expect(services.worker.deploy.replicas).toBe(2)
    expect(services.web.command).toEqual(['web'])
    expect(services.worker.command).toEqual(['worker'])
    expect(services.migrate.command).toEqual(['migrate'])
    expect(services.kafka.image).toMatch(/^apache\/kafka:/)
    expect(envOf('kafka').KAFKA_PROCESS_ROLES).toBe('broker,controller')
    expect(services.redis.command).toContain('--appendonly')
  })

  it('hands web and worker a configuration server/config.ts accepts, pointing at the compose services', () => {
    for (const name of ['web', 'worker']) {
      const env = Object.fromEntries(Object.entries(envOf(name)).map(([k, v]) => [k, interpolate(String(v))]))
      const cfg = parseConfig(env)
      expect(new URL(cfg.DATABASE_URL).hostname).toBe('mariadb')
      expect(new URL(cfg.REDIS_URL!).hostname).toBe('redis')
      expect(cfg.KAFKA_BROKERS).toEqual(['kafka:9092'])
      expect(services.web.depends_on.migrate.condition).toBe('service_completed_successfully')
    }
    // The issuer's host resolves to Keycloak inside the network and on the host (*.localhost).
    const issuer = new URL(String(envOf('web').OIDC_ISSUER))
    expect(services.keycloak.networks.default.aliases).toContain(issuer.hostname)
    expect(services.keycloak.ports).toContain(`${issuer.port}:${issuer.port}`)
    expect(services.keycloak.command.join(' ')).toContain(`--hostname=${issuer.origin}`)
  })

  it('imports the realm into Keycloak with a value for each of its placeholders', () => {
    expect(services.keycloak.command).toContain('--import-realm')
    const mount = (services.keycloak.volumes as string[]).find((v) => v.includes('/opt/keycloak/data/import/'))!
    const realmFile = mount.split(':')[0]!.replace(/^\.\//, '')
    const placeholders = new Set([...read(realmFile).matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]!))
    expect(placeholders.size).toBeGreaterThan(0)
    for (const name of placeholders) expect(envOf('keycloak')).toHaveProperty(name)
    expect(interpolate(String(envOf('keycloak').WEB_CLIENT_SECRET))).toBe(interpolate(String(envOf('web').OIDC_WEB_CLIENT_SECRET)))
  })

  it('puts NGINX in front with a config file that exists, and declares every named volume it uses', () => {
    const [dir, mountedAt] = (services.nginx.volumes as string[]).find((v) => v.includes('/deploy/compose/nginx:'))!.split(':')
    expect(read(`${dir!.replace(/^\.\//, '')}/nginx.conf`)).toMatch(/server web:3000/)
    expect(services.nginx.command.join(' ')).toContain(`nginx -c ${mountedAt}/nginx.conf`)
    for (const service of Object.values(services)) {
      for (const v of (service.volumes ?? []) as string[]) {
        const source = v.split(':')[0]!
        if (!source.startsWith('.') && !source.startsWith('/')) expect(compose.volumes).toHaveProperty(source)
      }
    }
  })
})

describe('Kubernetes manifests (deploy/k8s)', () => {
  const dir = 'deploy/k8s'
  const kustomization = yaml.load(read(join(dir, 'kustomization.yaml'))) as { resources: string[] }
  const docs = kustomization.resources.flatMap((f) => yaml.loadAll(read(join(dir, f))) as Doc[]).filter(Boolean)
  const find = (kind: string, name: string) => {
    const doc = docs.find((d) => d.kind === kind && d.metadata.name === name)
    expect(doc, `${kind}/${name}`).toBeDefined()
    return doc!
  }
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v)

  it('lists every manifest file, and every document has apiVersion, kind and a name', () => {
    expect(
      readdirSync(dir)
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .sort(),
    ).toEqual([...kustomization.resources].sort())
    for (const d of docs) {
      expect(d.apiVersion, JSON.stringify(d.metadata)).toBeTruthy()
      expect(d.kind).toBeTruthy()
      expect(d.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
    }
  })

  it('gives web and worker a configuration server/config.ts accepts (ConfigMap + Secret) once the Secret\'s placeholders are replaced', () => {
    const secret = find('Secret', 'flash-sale-secrets').stringData!
    expect(() => parseConfig({ ...find('ConfigMap', 'flash-sale-config').data, ...secret })).toThrow(/SESSION_PASSWORD/)
    const replaced = Object.fromEntries(Object.entries(secret).map(([k, v]) => [k, v.replace(/CHANGE-ME[\w-]*/, randomBytes(36).toString('base64url'))]))
    const env = { ...find('ConfigMap', 'flash-sale-config').data, ...replaced }
    const cfg = parseConfig(env)
    expect(cfg.NODE_ENV).toBe('production')
    expect(cfg.REDIS_CLUSTER_NODES?.length).toBeGreaterThanOrEqual(3)
    expect(cfg.KAFKA_BROKERS.length).toBeGreaterThanOrEqual(3)
    expect(cfg.METRICS_HOST).toBe('0.0.0.0')
    for (const name of ['flash-sale-web', 'flash-sale-worker']) {
      const container = find('Deployment', name).spec.template.spec.containers[0]
      expect(container.envFrom.map((e: Parsed) => e.configMapRef?.name ?? e.secretRef?.name).sort()).toEqual([
        'flash-sale-config',
        'flash-sale-secrets',
      ])
    }
  })

  it('runs the web Deployment with readiness on /readyz, liveness on /healthz, resources, a graceful stop and non-root', () => {
    const web = find('Deployment', 'flash-sale-web')
    const pod = web.spec.template.spec
    const c = pod.containers[0]
    expect(c.args).toEqual(['web'])
    const portNames = new Map(c.ports.map((p: Parsed) => [p.name, p.containerPort]))
    expect(portNames.get(c.readinessProbe.httpGet.port)).toBe(3000)
    expect(c.readinessProbe.httpGet.path).toBe('/readyz')
    expect(c.livenessProbe.httpGet.path).toBe('/healthz')
    expect(c.resources.requests.cpu).toBeTruthy()
    expect(c.resources.requests.memory).toBeTruthy()
    expect(c.resources.limits.memory).toBeTruthy()
    expect(pod.securityContext.runAsNonRoot).toBe(true)
    const config = find('ConfigMap', 'flash-sale-config').data!
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(config.SHUTDOWN_TIMEOUT_MS) + 5_000)
    expect(matches(web.spec.selector.matchLabels, web.spec.template.metadata.labels)).toBe(true)
  })

  it('scales web with an HPA and workers with a KEDA ScaledObject on the payment-workers lag', () => {
    const hpa = find('HorizontalPodAutoscaler', 'flash-sale-web')
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'flash-sale-web' })
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2)
    const scaled = find('ScaledObject', 'flash-sale-worker')
    expect(scaled.apiVersion).toBe('keda.sh/v1alpha1')
    expect(scaled.spec.scaleTargetRef.name).toBe('flash-sale-worker')
    find('Deployment', scaled.spec.scaleTargetRef.name)
    const trigger = scaled.spec.triggers.find((t: Parsed) => t.type === 'kafka')
    expect(trigger.metadata).toMatchObject({ consumerGroup: 'payment-workers', topic: 'payment-requests' })
    expect(trigger.metadata.bootstrapServers).toBe(find('ConfigMap', 'flash-sale-config').data!.KAFKA_BROKERS)
    const worker = find('Deployment', 'flash-sale-worker').spec.template.spec.containers[0]
    expect(worker.args).toEqual(['worker'])
    expect(worker.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' })
    expect(worker.ports.find((p: Parsed) => p.name === 'metrics').containerPort).toBe(9101)
  })

  it('protects both tiers with PodDisruptionBudgets and routes Services and the Ingress to real pods and ports', () => {
    for (const name of ['flash-sale-web', 'flash-sale-worker']) {
      const pdb = find('PodDisruptionBudget', name)
      expect(matches(pdb.spec.selector.matchLabels, find('Deployment', name).spec.template.metadata.labels)).toBe(true)
    }
    const deployments = docs.filter((d) => d.kind === 'Deployment')
    for (const svc of docs.filter((d) => d.kind === 'Service')) {
      const target = deployments.find((d) => matches(svc.spec.selector, d.spec.template.metadata.labels))
      expect(target, `Service ${svc.metadata.name} selects pods`).toBeDefined()
      const ports = target!.spec.template.spec.containers.flatMap((c: Parsed) => c.ports.map((p: Parsed) => p.name))
      for (const p of svc.spec.ports) expect(ports).toContain(p.targetPort)
    }
    const ingress = find('Ingress', 'flash-sale')
    expect(ingress.spec.ingressClassName).toBe('nginx')
    // sockets live long on their own Ingress; every other request waits about 5 s at most
    const timeouts = (name: string) => ['read', 'send'].map((t) => Number(find('Ingress', name).metadata.annotations![`nginx.ingress.kubernetes.io/proxy-${t}-timeout`]))
    expect(timeouts('flash-sale-ws').every((t) => t >= 3600)).toBe(true)
    for (const name of ['flash-sale', 'flash-sale-purchase']) expect(timeouts(name)).toEqual([5, 5])
    for (const rule of ingress.spec.rules) {
      for (const path of rule.http.paths) {
        const svc = find('Service', path.backend.service.name)
        expect(svc.spec.ports.map((p: Parsed) => p.name)).toContain(path.backend.service.port.name)
      }
    }
  })
})
