// The deployment files (issue 13, item 4) checked as far as this machine can without an image registry or a
// cluster: deploy/compose.yaml parsed and its services, images, volumes, configs and secrets cross-checked; the
// Kubernetes manifests validated against the Kubernetes schemas (kubernetes-models, from npm) plus the fields
// that matter asserted by name; the configuration files they carry loaded by the product's own loaders; the
// systemd unit through `systemd-analyze verify` and its user through `systemd-sysusers`. The capabilities every
// file grants the agent are the ones test/deploy/image.test.ts proves needed and enough.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { loadAgentConfig } from '../../agent/config.ts';
import { describeAgentPlan } from '../../agent/agent-plan.ts';
import { SEARCH_ATTRIBUTES } from '../../domain/temporal-names.ts';
import { loadServerConfig } from '../../server/config.ts';
import { COMPOSE_COMMANDS } from '../../testkit/compose.ts';
import { AGENT_RUN_FLAGS, PROJECT_ROOT, buildArgs } from '../../testkit/image.ts';
import { ensureKubernetesModels, validateManifest } from './support/kubernetes-schemas.ts';

const run = promisify(execFile);
const DEPLOY = path.join(PROJECT_ROOT, 'deploy');
const read = (rel: string): string => readFileSync(path.join(PROJECT_ROOT, rel), 'utf8');
/** What the agent gets everywhere, and nothing more. */
const AGENT_CAP = 'NET_BIND_SERVICE';
const IMAGE_UID = 10001;

type Obj = Record<string, unknown>;
const obj = (v: unknown, what: string): Obj => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is not a mapping`);
  return v as Obj;
};
const list = (v: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(v), `${what} is not a list`);
  return v;
};

const scratch = mkdtempSync(path.join(tmpdir(), 'vq-deploy-files-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A server config with its token files pointed at a scratch file, loaded by the server's own loader. */
async function loadServerYaml(text: string, label: string) {
  const token = path.join(scratch, `${label}-token`);
  writeFileSync(token, 'a-token-of-enough-length-0123456789\n');
  const file = path.join(scratch, `${label}.yml`);
  writeFileSync(file, text.replace(/file: \/run\/secrets\/\S+ \}/g, `file: ${token} }`));
  return loadServerConfig(file, { PATH: process.env.PATH });
}

/** A payload key where the deployment files mount theirs (the agent's --check reads it). */
const codecKey = path.join(scratch, 'codec-key');
writeFileSync(codecKey, `${'ab'.repeat(32)}\n`, { mode: 0o600 });

/** An agent config loaded by the agent's loader, and its --check plan, its payload key pointed at a scratch file. */
async function loadAgentYaml(text: string, label: string) {
  const file = path.join(scratch, `${label}.yml`);
  writeFileSync(file, text.replace(/file: \/run\/secrets\/\S*codec-key\b/g, `file: ${codecKey}`));
  const config = await loadAgentConfig(file, { PATH: process.env.PATH });
  return { config, plan: await describeAgentPlan(config) };
}

describe('the Containerfile and its ignore files', () => {
  it('takes its base from ARG BASE, whose default is the official Node 20 bookworm slim image', () => {
    const text = read('Containerfile');
    assert.match(text, /^ARG BASE=node:20-bookworm-slim$/m);
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.deepEqual(froms, ['${BASE}', '${BASE}']);
    assert.match(text, /^USER vaquero$/m);
    assert.match(text, /^ENTRYPOINT \["vaquero"\]$/m);
    assert.match(text, /apt-get install -y --no-install-recommends ipxe ipmitool/);
    assert.match(text, /useradd --system --uid 10001 /);
  });

  it('.containerignore and .dockerignore are the same allowlist, which leaves tests and node_modules out', () => {
    const ci = read('.containerignore');
    assert.equal(read('.dockerignore'), ci);
    const allowed = ci
      .split('\n')
      .filter((l) => l.startsWith('!'))
      .map((l) => l.slice(1));
    for (const p of allowed) assert.ok(existsSync(path.join(PROJECT_ROOT, p)), `${p} is allowed but missing`);
    for (const p of ['test', 'bench', 'tools', 'node_modules', '.git', 'deploy'])
      assert.ok(!allowed.includes(p));
    for (const p of ['bin', 'cli', 'workers', 'workflows', 'agent', 'server', 'package-lock.json'])
      assert.ok(allowed.includes(p), `${p} is not in the build context`);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = obj(parse(read('deploy/compose.yaml')), 'compose.yaml');
  const services = obj(compose.services, 'services');
  const service = (name: string): Obj => obj(services[name], `service ${name}`);

  it('has Temporal, PostgreSQL, the server and an agent, each image by name with an overridable default', () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'postgresql',
      'temporal',
      'temporal-namespace',
      'temporal-schema',
      'vaquero-agent',
      'vaquero-server',
    ]);
    for (const [name, s] of Object.entries(services)) {
      const image = obj(s, name).image;
      assert.equal(typeof image, 'string', `${name} has no image`);
      const m = /^\$\{([A-Z_]+):-([^}]+)\}$/.exec(image as string);
      assert.ok(m, `${name}: image ${String(image)} is not \${VARIABLE:-default}`);
      // A name users pull, not a registry host: the first path part has no dot, port or "localhost".
      const first = m[2]!.split('/')[0]!;
      assert.ok(!m[2]!.includes('/') || !/[.:]|^localhost$/.test(first), `${name}: ${m[2]} names a registry`);
    }
    assert.equal(service('vaquero-server').image, service('vaquero-agent').image);
    const build = obj(service('vaquero-server').build, 'vaquero-server.build');
    assert.ok(existsSync(path.join(DEPLOY, String(build.context), String(build.dockerfile))));
    assert.equal(obj(build.args, 'build.args').BASE, '${BASE:-node:20-bookworm-slim}');
  });

  /** A service's bind mount of a file of deploy/ (`./file:/target[:ro]`): its target. */
  const bindTarget = (s: Obj, file: string): string | undefined => {
    for (const v of (s.volumes as unknown[] | undefined) ?? []) {
      const [source, target, mode] = String(v).split(':');
      if (source === `./${file}`) {
        assert.equal(mode, 'ro', `${file} is mounted read-only`);
        return target;
      }
    }
    return undefined;
  };

  it('declares every volume and secret its services use, uses every one it declares, and binds files that exist', () => {
    // What docker compose, podman compose and docker-compose 1.x (CI's, test/deploy/compose.test.ts) all honour: the
    // project is named by -p, and config files are bind mounts (docker-compose 1.x mounts no `configs:`).
    assert.equal(compose.name, undefined, 'docker-compose 1.x refuses a top-level name');
    assert.equal(compose.configs, undefined, 'config files are bind mounts, not configs');
    for (const kind of ['volumes', 'secrets'] as const) {
      const declared = Object.keys(obj(compose[kind], kind));
      const used = new Set<string>();
      for (const [name, s] of Object.entries(services)) {
        for (const entry of (obj(s, name)[kind] as unknown[] | undefined) ?? []) {
          const source =
            typeof entry === 'string'
              ? entry.split(':')[0]!
              : String(obj(entry, `${name}.${kind}[]`).source ?? obj(entry, `${name}.${kind}[]`).target);
          if (kind === 'volumes' && (source.startsWith('/') || source.startsWith('.'))) {
            assert.ok(existsSync(path.join(DEPLOY, source)), `${name} binds ${source}, which does not exist`);
            continue;
          }
          used.add(source);
          assert.ok(declared.includes(source), `${name} uses ${kind} ${source}, which is not declared`);
        }
      }
      assert.deepEqual([...used].sort(), [...declared].sort(), `${kind}: declared but unused`);
    }
    for (const [name, c] of Object.entries(obj(compose.secrets, 'secrets'))) {
      // Made on the machine (openssl rand), kept out of git by deploy/secrets/.gitignore.
      assert.match(String(obj(c, name).file), /^\.\/secrets\//);
    }
    assert.ok(existsSync(path.join(DEPLOY, 'secrets', '.gitignore')));
    // The PostgreSQL password the README's commands keep in deploy/.env stays out of git too.
    assert.match(read('deploy/.gitignore'), /^\.env$/m);
    for (const [name, s] of Object.entries(services))
      for (const dep of Object.keys(obj(obj(s, name).depends_on ?? {}, `${name}.depends_on`)))
        assert.ok(dep in services, `${name} depends on ${dep}, which is not a service`);
  });

  it('runs the agent on the host network as root with every capability dropped but NET_BIND_SERVICE', () => {
    const agent = service('vaquero-agent');
    assert.equal(agent.network_mode, 'host');
    assert.equal(agent.user, '0');
    assert.deepEqual(agent.cap_drop, ['ALL']);
    assert.deepEqual(agent.cap_add, [AGENT_CAP]);
    assert.equal(agent.ports, undefined);
    assert.equal(agent.privileged, undefined);
    const command = list(agent.command, 'agent.command');
    assert.deepEqual(command, ['agent', '--config', bindTarget(agent, 'agent.yml')]);
  });

  it('runs the server as the image user, its token a secret file its config names, its port on loopback', () => {
    const server = service('vaquero-server');
    assert.equal(server.user, undefined);
    assert.equal(server.cap_add, undefined);
    assert.deepEqual(server.ports, ['127.0.0.1:8080:8080']);
    assert.deepEqual(server.command, ['server', '--config', bindTarget(server, 'server.yml')]);
    const secret = obj(list(server.secrets, 'server.secrets')[0], 'server secret').target;
    assert.match(read('deploy/server.yml'), new RegExp(`file: /run/secrets/${String(secret)} \\}`));
    const check = list(obj(server.healthcheck, 'healthcheck').test, 'test');
    assert.match(String(check.at(-1)), /\/live'/);
    // podman 4.3's Docker API splits every word of a CMD health check at its spaces (test/deploy/compose.test.ts
    // found it): the words must have none.
    assert.equal(check[0], 'CMD');
    for (const word of check) assert.doesNotMatch(String(word), /\s/, `health check word "${String(word)}"`);
    assert.equal(obj(server.environment, 'environment').TEMPORAL_ADDRESS, 'temporal:7233');
  });

  it('sets up both databases with the SQL tool, and the namespace with every search attribute vaquero needs', () => {
    const schema = String(list(service('temporal-schema').command, 'command')[0]);
    for (const db of ['temporal', 'temporal_visibility']) assert.match(schema, new RegExp(`\\b${db}\\b`));
    for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema -d'])
      assert.ok(schema.includes(step));
    const ns = String(list(service('temporal-namespace').command, 'command')[0]);
    assert.match(ns, /namespace create --namespace vaquero/);
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      assert.equal(type, 'KEYWORD');
      assert.match(ns, new RegExp(`\\b${name}\\b`), `search attribute ${name} is not registered`);
    }
    assert.deepEqual(obj(service('temporal').depends_on, 'depends_on'), {
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
  });

  it('carries a server.yml and an agent.yml that the product loads as they are', async () => {
    const server = await loadServerYaml(read('deploy/server.yml'), 'compose-server');
    assert.deepEqual(server.listen, { host: '0.0.0.0', port: 8080 });
    assert.equal(server.dataDir, '/var/lib/vaquero');
    assert.deepEqual(
      server.auth.tokens.map((t) => t.role),
      ['operate'],
    );
    const { config, plan } = await loadAgentYaml(read('deploy/agent.yml'), 'compose-agent');
    assert.equal(config.data_dir, '/var/lib/vaquero-agent');
    assert.equal(config.tftp.root, '/usr/lib/ipxe');
    assert.deepEqual(plan.problems, []);
  });
});

describe('deploy/kubernetes', () => {
  let models = '';
  const docs: Obj[] = [];
  for (const file of readdirSync(path.join(DEPLOY, 'kubernetes')).sort()) {
    for (const d of parseAllDocuments(read(`deploy/kubernetes/${file}`))) {
      assert.deepEqual(d.errors, [], `${file}: ${d.errors.join('; ')}`);
      docs.push(obj(d.toJS(), file));
    }
  }
  const find = (kind: string, name: string): Obj => {
    const d = docs.find((x) => x.kind === kind && obj(x.metadata, 'metadata').name === name);
    assert.ok(d, `no ${kind} ${name}`);
    return d;
  };
  const podSpec = (workload: Obj): Obj =>
    obj(obj(obj(workload.spec, 'spec').template, 'template').spec, 'pod spec');
  const container = (workload: Obj): Obj =>
    obj(list(podSpec(workload).containers, 'containers')[0], 'container');

  before(async () => {
    models = await ensureKubernetesModels();
  });

  it('every manifest validates against the Kubernetes schema of its kind', async () => {
    assert.ok(docs.length >= 7);
    for (const d of docs) {
      const what = `${String(d.kind)} ${String(obj(d.metadata, 'metadata').name)}`;
      await assert.doesNotReject(validateManifest(models, d), what);
    }
    // The validator does reject what is wrong (a string count of replicas, a probe without a port).
    const server = structuredClone(find('Deployment', 'vaquero-server'));
    obj(server.spec, 'spec').replicas = 'two';
    await assert.rejects(validateManifest(models, server), /replicas must be integer/);
    const noPort = structuredClone(find('Deployment', 'vaquero-server'));
    delete obj(obj(container(noPort).livenessProbe, 'probe').httpGet, 'httpGet').port;
    await assert.rejects(validateManifest(models, noPort), /httpGet must have required property '?port'?/);
  });

  it('the server: two replicas, /live and /ready probes on its port, non-root, tokens from a Secret', async () => {
    const dep = find('Deployment', 'vaquero-server');
    assert.equal(obj(dep.spec, 'spec').replicas, 2);
    const c = container(dep);
    assert.deepEqual(c.args, ['server', '--config', '/etc/vaquero/server.yml']);
    const port = obj(list(c.ports, 'ports')[0], 'port');
    assert.equal(port.containerPort, 8080);
    assert.deepEqual(obj(c.livenessProbe, 'liveness').httpGet, { path: '/live', port: port.name });
    assert.deepEqual(obj(c.readinessProbe, 'readiness').httpGet, { path: '/ready', port: port.name });
    const pod = podSpec(dep);
    assert.equal(obj(pod.securityContext, 'securityContext').runAsUser, IMAGE_UID);
    assert.equal(obj(pod.securityContext, 'securityContext').runAsNonRoot, true);
    assert.deepEqual(obj(obj(c.securityContext, 'sc').capabilities, 'caps'), { drop: ['ALL'] });
    // Volumes: the ConfigMap and the Secret they name exist here, and the config loads.
    const volumes = list(pod.volumes, 'volumes').map((v) => obj(v, 'volume'));
    const secretName = obj(volumes.find((v) => v.secret)?.secret, 'secret volume').secretName as string;
    const secret = find('Secret', secretName);
    const mounts = list(c.volumeMounts, 'mounts').map((m) => obj(m, 'mount'));
    const tokensAt = mounts.find((m) => m.name === volumes.find((v) => v.secret)!.name)!.mountPath as string;
    const configMap = find(
      'ConfigMap',
      obj(volumes.find((v) => v.configMap)?.configMap, 'cm').name as string,
    );
    const serverYml = String(obj(configMap.data, 'data')['server.yml']);
    for (const key of Object.keys(obj(secret.stringData, 'stringData')))
      assert.ok(serverYml.includes(`file: ${tokensAt}/${key} }`), `server.yml does not read ${key}`);
    const config = await loadServerYaml(serverYml, 'k8s-server');
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8080 });
    // The shipped placeholder cannot be used as a token: the server refuses to start with it.
    const placeholder = path.join(scratch, 'placeholder-token');
    writeFileSync(placeholder, String(obj(secret.stringData, 'stringData')['operate-token']));
    const withPlaceholder = path.join(scratch, 'k8s-placeholder.yml');
    writeFileSync(
      withPlaceholder,
      serverYml.replace(/file: \/run\/secrets\/\S+ \}/g, `file: ${placeholder} }`),
    );
    await assert.rejects(loadServerConfig(withPlaceholder, {}), /shorter than 16 characters/);
    // The Service and the disruption budget select the Deployment's pods.
    const labels = obj(obj(obj(dep.spec, 'spec').template, 'template').metadata, 'md').labels;
    assert.deepEqual(obj(find('Service', 'vaquero-server').spec, 'spec').selector, labels);
    assert.deepEqual(
      obj(obj(find('PodDisruptionBudget', 'vaquero-server').spec, 'spec').selector, 'sel').matchLabels,
      labels,
    );
  });

  it('the agents: host network on labelled nodes, two per broadcast domain, NET_BIND_SERVICE only', async () => {
    const ds = find('DaemonSet', 'vaquero-agent-lab');
    const pod = podSpec(ds);
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(pod.nodeSelector, { 'vaquero.dev/agent-site': 'lab' });
    const c = container(ds);
    const sc = obj(c.securityContext, 'securityContext');
    assert.equal(sc.runAsUser, 0);
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.deepEqual(sc.capabilities, { drop: ['ALL'], add: [AGENT_CAP] });
    assert.deepEqual(c.args, ['agent', '--config', '/etc/vaquero/agents/$(NODE_NAME).yml']);
    const env = list(c.env, 'env').map((e) => obj(e, 'env'));
    assert.deepEqual(obj(env.find((e) => e.name === 'NODE_NAME')?.valueFrom, 'valueFrom'), {
      fieldRef: { fieldPath: 'spec.nodeName' },
    });
    // One config per node, named after it; both agents of the domain serve the same site and subnet.
    const volumes = list(pod.volumes, 'volumes').map((v) => obj(v, 'volume'));
    const cm = find('ConfigMap', obj(volumes.find((v) => v.configMap)?.configMap, 'cm').name as string);
    const files = Object.entries(obj(cm.data, 'data'));
    assert.equal(files.length, 2, 'two agents per broadcast domain');
    const cidrs = new Set<string>();
    for (const [file, text] of files) {
      const { config, plan } = await loadAgentYaml(String(text), `k8s-${file}`);
      assert.equal(`${config.agent_id}.yml`, file);
      assert.equal(config.site, 'lab');
      assert.deepEqual(plan.problems, []);
      cidrs.add(config.interfaces.map((i) => i.cidr).join(','));
      assert.equal(config.data_dir, '/var/lib/vaquero-agent');
    }
    assert.equal(cidrs.size, 1, 'the two agents are on one broadcast domain');
  });
});

describe('deploy/systemd', () => {
  const unitFile = path.join(DEPLOY, 'systemd', 'vaquero-agent.service');
  const unit = read('deploy/systemd/vaquero-agent.service');
  const directive = (key: string): string[] =>
    [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());

  before(async () => {
    await run('systemd-analyze', ['--version']).catch(() => {
      throw new Error('systemd-analyze is missing (the `systemd` Debian package; npm run setup installs it)');
    });
  });

  it('passes systemd-analyze verify with nothing to say, which does report a broken copy', async () => {
    const r = await run('systemd-analyze', ['verify', unitFile]).then(
      (x) => ({ code: 0, out: x.stdout + x.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? -1,
        out: (e.stdout ?? '') + (e.stderr ?? ''),
      }),
    );
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), '');
    const dir = path.join(scratch, 'broken');
    mkdirSync(dir);
    const broken = path.join(dir, 'vaquero-agent.service');
    writeFileSync(
      broken,
      unit.replace('StateDirectory=', 'StateDirectori=').replace('/usr/bin/node', '/usr/bin/nodex'),
    );
    const b = await run('systemd-analyze', ['verify', broken]).then(
      (x) => ({ code: 0, out: x.stdout + x.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? -1,
        out: (e.stdout ?? '') + (e.stderr ?? ''),
      }),
    );
    assert.notEqual(b.code, 0);
    assert.match(b.out, /Unknown key.*StateDirectori/);
    assert.match(b.out, /\/usr\/bin\/nodex is not executable/);
  });

  it('runs the agent as a dedicated user with CAP_NET_BIND_SERVICE alone and its state in StateDirectory', async () => {
    assert.deepEqual(directive('User'), ['vaquero']);
    assert.deepEqual(directive('AmbientCapabilities'), [`CAP_${AGENT_CAP}`]);
    assert.deepEqual(directive('CapabilityBoundingSet'), [`CAP_${AGENT_CAP}`]);
    assert.deepEqual(directive('NoNewPrivileges'), ['yes']);
    assert.deepEqual(directive('StateDirectory'), ['vaquero-agent']);
    assert.deepEqual(directive('Environment'), [
      'VAQUERO_DATA_DIR=/var/lib/vaquero-agent',
      'VAQUERO_CODEC_KEYS=k1=file:%d/codec-key',
    ]);
    // The payload key reaches the service alone, as a credential (README.md, "Payload encryption").
    assert.deepEqual(directive('LoadCredential'), ['codec-key:/etc/vaquero/codec-key']);
    assert.deepEqual(directive('ExecStart'), [
      '/usr/bin/node /opt/vaquero/bin/vaquero.js agent --config /etc/vaquero/agent.yml',
    ]);
    // The user comes from the sysusers.d file, applied here into a scratch root.
    const root = path.join(scratch, 'sysroot');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    const sysusers = read('deploy/systemd/vaquero.sysusers');
    await new Promise<void>((resolve, reject) => {
      const child = execFile('systemd-sysusers', [`--root=${root}`, '-'], (err) =>
        err ? reject(err) : resolve(),
      );
      child.stdin?.end(sysusers);
    });
    const passwd = readFileSync(path.join(root, 'etc', 'passwd'), 'utf8');
    assert.match(passwd, /^vaquero:x:\d+:\d+:vaquero agent:\/var\/lib\/vaquero-agent:\/usr\/sbin\/nologin$/m);
  });
});

describe("README.md's Deploy section", () => {
  const readme = read('README.md');
  const start = readme.indexOf('\n## Deploy\n');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  /** Shell lines of its code blocks, continuation lines joined. */
  const commands = [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.replace(/\\\n\s*/g, '').split('\n'))
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter(Boolean);

  it('exists', () => assert.ok(start >= 0, 'README.md has no "## Deploy" section'));

  it('builds as the image test does', () => {
    const ci = buildArgs('localhost/vaquero-base:HASH', 'vaquero', 'x').filter(
      (a, i, all) => a !== '--label' && all[i - 1] !== '--label',
    );
    assert.ok(
      commands.includes(`podman ${ci.join(' ')}`),
      `no "podman ${ci.join(' ')}" in:\n${commands.join('\n')}`,
    );
  });

  it('runs the server and the agent with the mounts and flags the image test uses', () => {
    const server = commands.find((c) => c.includes(' server --config '));
    assert.ok(server);
    for (const part of [
      '-v ./deploy/server.yml:/etc/vaquero/server.yml:ro',
      '-v ./operate-token:/run/secrets/operate-token:ro',
      '-v ./codec-key:/run/secrets/codec-key:ro',
      'vaquero server --config /etc/vaquero/server.yml',
    ])
      assert.ok(server.includes(part), `server line without ${part}`);
    assert.ok(
      !server.includes('--user') && !server.includes('--cap-add'),
      'the server runs as the image user',
    );
    const agent = commands.find((c) => c.includes(' agent --config ') && !c.includes('--check'));
    assert.ok(agent, 'no agent line');
    assert.ok(agent.includes(`--network host ${AGENT_RUN_FLAGS.join(' ')}`), `agent line: ${agent}`);
    assert.ok(agent.includes('vaquero agent --config /etc/vaquero/agent.yml'));
    assert.ok(commands.some((c) => c.endsWith('agent --config /etc/vaquero/agent.yml --check')));
  });

  it('brings compose up and down with the commands test/deploy/compose.test.ts runs', () => {
    for (const line of Object.values(COMPOSE_COMMANDS))
      assert.ok(commands.includes(line), `no "${line}" in:\n${commands.join('\n')}`);
  });

  it('names deployment files that exist', () => {
    const named = new Set([...section.matchAll(/(?<![\w/])deploy\/[\w./-]*\w/g)].map((m) => m[0]));
    assert.ok(named.size >= 6);
    for (const f of named) {
      // Made by the commands that name them.
      if (['deploy/secrets/operate-token', 'deploy/secrets/codec-key', 'deploy/.env'].includes(f)) continue;
      assert.ok(existsSync(path.join(PROJECT_ROOT, f)), `README names ${f}, which does not exist`);
    }
  });
});
