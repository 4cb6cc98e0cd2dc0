// Renders what a host boots, stage by stage: kernel and initrd URLs, kernel command line, the iPXE script and the
// unattended config, plus the task containers of each boot. Bad SoT content never throws: it becomes
// diagnostics, and a host with any diagnostic gets no rendering at all (half a boot plan is worse than none).
import { secretPlaceholder } from '../domain/secret.ts';
import { bootInterfaceIndex } from './boot-interface.ts';
import { cmdlineEntryProblem, joinCmdline, mapEntryText } from './cmdline.ts';
import type { Diagnostic } from './diagnostics.ts';
import { buildGrubConfig, grubTftpPath, grubWordProblem } from './grub-config.ts';
import { buildIpxeScript, ipxeImageName, ipxeUrlProblem } from './ipxe-script.ts';
import type { BootEntity, HostEntity, OsEntity, SotConfiguration, SotModel } from './model.ts';
import { configOf } from './model.ts';
import {
  agentFor,
  interfaceScope,
  mergeMetadata,
  siteScope,
  subnetScope,
  urlsScope,
} from './render-scope.ts';
import type { InterfaceScope, SubnetScope } from './render-scope.ts';
import type { AssetType, CmdlineEntry, Loader, PhysicalInterfaceSpec, TaskSpec } from './schema.ts';
import type { SourceDoc, YamlPath } from './source-doc.ts';
import { TemplateEngine } from './templates.ts';
import type { TemplateError } from './templates.ts';
import type { RenderedTask } from '../domain/task-spec.ts';

/** Stands for the per-run checkpoint token, which the agent substitutes when it serves an artifact. */
export const CHECKPOINT_TOKEN_PLACEHOLDER = '__VAQUERO_CHECKPOINT_TOKEN__';

export const CONTENT_TYPES: Readonly<Record<AssetType, string>> = {
  ignition: 'application/json',
  'cloud-config': 'text/cloud-config',
  kickstart: 'text/plain',
  preseed: 'text/plain',
  untyped: 'text/plain',
};

/** Used when a task does not say: long enough for a drain, short enough to notice a hung one. */
export const DEFAULT_TASK_TIMEOUT_S = 600;

export interface RenderedStage {
  /** 1-based. */
  index: number;
  boot: string;
  os: string;
  kernel: string;
  initrds: string[];
  cmdline: string;
  ipxe: string;
  /** Set only when the stage boots through GRUB (absent: iPXE), so iPXE hosts' renderings stay as they were. */
  loader?: 'grub';
  /** The host's GRUB config for this stage (grub-config.ts), when `loader` is grub. */
  grub?: string;
  config?: { type: AssetType; contentType: string; text: string };
  beforeShutdown: RenderedTask[];
  validate: RenderedTask[];
}

export interface RenderedHost {
  site: string;
  host: string;
  workflow: string;
  /** The boot interface's MAC, lowercase. */
  mac: string;
  ipv4?: string;
  stages: RenderedStage[];
}

export interface HostRenderResult {
  rendered?: RenderedHost;
  diagnostics: Diagnostic[];
}

export interface Renderer {
  renderHost(host: HostEntity): HostRenderResult;
}

export function createRenderer(model: SotModel): Renderer {
  // One engine per configuration: templates and snippets resolve within the configuration a host uses.
  const engines = new Map<SotConfiguration, TemplateEngine>();
  const engineFor = (config: SotConfiguration): TemplateEngine => {
    let e = engines.get(config);
    if (!e) engines.set(config, (e = new TemplateEngine(config)));
    return e;
  };
  const siteScopes = new Map<string, object>();
  const subnetScopes = new Map<string, SubnetScope>();

  function renderHost(host: HostEntity): HostRenderResult {
    const diagnostics: Diagnostic[] = [];
    const stop = (d: Diagnostic): HostRenderResult => ({ diagnostics: [d] });
    const src = host.src;

    const site = model.sites.get(host.site);
    if (!site) return stop(src.diag([], `site "${host.site}" has no env.yml`));
    const ifaceIndex = bootInterfaceIndex(host.spec);
    if (ifaceIndex < 0) {
      const what = host.spec.interfaces.some((i) => i.type === 'physical')
        ? 'every physical interface has ignore_dhcp: no interface to boot from'
        : 'no physical interface to boot from';
      return stop(src.diag(['interfaces'], what));
    }
    const iface = host.spec.interfaces[ifaceIndex] as PhysicalInterfaceSpec;
    const subnet = site.spec.subnets.find((s) => s.id === iface.subnet);
    if (!subnet)
      return stop(src.diag(['interfaces', ifaceIndex, 'subnet'], `unknown subnet "${iface.subnet}"`));
    const agent = agentFor(site.spec, subnet.id);
    if (!agent) {
      return stop(
        src.diag(
          ['interfaces', ifaceIndex, 'subnet'],
          `no agent of site "${site.id}" serves subnet "${subnet.id}"`,
        ),
      );
    }
    const config = configOf(model, host);
    const engine = engineFor(config);
    const workflow = config.workflows.get(host.spec.workflow);
    if (!workflow) return stop(src.diag(['workflow'], `unknown workflow "${host.spec.workflow}"`));
    const configVars = { type: config.origin.type, url: config.origin.url, ref: config.origin.ref };

    let siteVars = siteScopes.get(site.id);
    if (!siteVars) siteScopes.set(site.id, (siteVars = siteScope(site.id, site.spec)));
    const subnetKey = `${site.id}/${subnet.id}`;
    let subnetVars = subnetScopes.get(subnetKey);
    if (!subnetVars) subnetScopes.set(subnetKey, (subnetVars = subnetScope(subnet)));
    const ifaceVars = interfaceScope(iface);
    const hostVars = {
      name: host.spec.name,
      workflow: host.spec.workflow,
      metadata: host.spec.metadata ?? {},
      interfaces: host.spec.interfaces.filter((i) => i.type === 'physical').map(interfaceScope),
    };

    const boots = workflow.spec.boots;
    const stages: RenderedStage[] = [];
    boots.forEach((bootId, i) => {
      const boot = config.boots.get(bootId);
      if (!boot) {
        diagnostics.push(workflow.src.diag(['boots', i], `unknown boot "${bootId}"`));
        return;
      }
      const os = config.os.get(boot.spec.os);
      if (!os) {
        diagnostics.push(boot.src.diag(['os'], `unknown os "${boot.spec.os}"`));
        return;
      }
      const loader = stageLoader(host, boot, diagnostics);
      const stage = renderStage({
        loader,
        engine,
        host: host.spec.name,
        index: i + 1,
        count: boots.length,
        boot,
        os,
        fixed: {
          site: siteVars,
          subnet: subnetVars,
          interface: ifaceVars,
          host: hostVars,
          config: configVars,
        },
        siteMetadata: site.spec.metadata,
        hostMetadata: hostVars.metadata,
        ifaceVars,
        agentUrl: agent.http_url,
        diagnostics,
      });
      if (stage) stages.push(stage);
    });
    if (diagnostics.length > 0) return { diagnostics };
    const rendered: RenderedHost = {
      site: host.site,
      host: host.spec.name,
      workflow: workflow.id,
      mac: ifaceVars.mac,
      stages,
    };
    if (iface.ipv4 !== undefined) rendered.ipv4 = iface.ipv4;
    return { rendered, diagnostics };
  }

  return { renderHost };
}

/**
 * The stage's boot loader: the host's `loader`, else the boot's, else grub for a `secure_boot` host and ipxe for
 * any other. A Secure Boot host sent to iPXE is refused: Debian ships no signed iPXE, its firmware would not run it.
 */
function stageLoader(host: HostEntity, boot: BootEntity, diagnostics: Diagnostic[]): Loader {
  const loader = host.spec.loader ?? boot.spec.loader ?? (host.spec.secure_boot ? 'grub' : 'ipxe');
  if (host.spec.secure_boot && loader === 'ipxe') {
    const from = host.spec.loader
      ? `the host's loader: ipxe`
      : `boot "${boot.id}" (${boot.src.file}:${boot.src.pos(['loader']).line}) says loader: ipxe`;
    diagnostics.push(
      host.src.diag(
        ['secure_boot'],
        `secure_boot: true needs loader grub (signed shim and GRUB; Debian ships no signed iPXE), but ${from}`,
      ),
    );
  }
  return loader;
}

interface StageInput {
  /** The stage's boot loader (stageLoader). */
  loader: Loader;
  engine: TemplateEngine;
  host: string;
  index: number;
  count: number;
  boot: BootEntity;
  os: OsEntity;
  /** The scope entries that are the same for every stage of the host. */
  fixed: { site: object; subnet: SubnetScope; interface: InterfaceScope; host: object; config: object };
  siteMetadata: Record<string, unknown> | undefined;
  hostMetadata: Record<string, unknown>;
  ifaceVars: InterfaceScope;
  agentUrl: string;
  diagnostics: Diagnostic[];
}

function renderStage(input: StageInput): RenderedStage | undefined {
  const { engine, boot, os, index, diagnostics } = input;
  const before = diagnostics.length;
  const context = `host ${input.host} (stage ${index}, boot ${boot.id})`;
  const renderFailure = (err: TemplateError): string =>
    err.syntax ? `template syntax: ${err.message}` : `does not render for ${context}: ${err.message}`;

  /** Render a templated YAML string; on failure, a diagnostic at that node and undefined. */
  const field = (src: SourceDoc, path: YamlPath, text: string, scope: object): string | undefined => {
    const out = engine.renderField(text, scope);
    if (out.error) {
      diagnostics.push(src.diag(path, renderFailure(out.error)));
      return undefined;
    }
    return out.text;
  };

  const osSpec = os.spec;
  const bootSpec = boot.spec;
  const base = {
    ...input.fixed,
    boot: {
      id: boot.id,
      metadata: bootSpec.metadata ?? {},
      unattended: bootSpec.unattended ? { ...bootSpec.unattended } : null,
    },
    // Kernel and initrd templates see their own unrendered text here; everything after sees the URLs.
    os: {
      id: os.id,
      kernel: osSpec.kernel,
      initrds: [...(osSpec.initrds ?? [])],
      metadata: osSpec.metadata ?? {},
    },
    metadata: mergeMetadata(input.siteMetadata, osSpec.metadata, bootSpec.metadata, input.hostMetadata),
    stage: { index, count: input.count, boot: boot.id },
    urls: urlsScope(input.agentUrl, input.ifaceVars.mac, index, CHECKPOINT_TOKEN_PLACEHOLDER),
  };

  /** A rendered URL that could not be fetched as written, or would inject into the iPXE line, is refused. */
  const url = (path: YamlPath, what: string, text: string): string => {
    const out = field(os.src, path, text, base);
    if (out === undefined) return '';
    const problem = ipxeUrlProblem(out);
    if (problem)
      diagnostics.push(os.src.diag(path, `${what} ${JSON.stringify(out)} for ${context} ${problem}`));
    return out;
  };
  const kernel = url(['kernel'], 'kernel URL', osSpec.kernel);
  const initrds = (osSpec.initrds ?? []).map((t, j) => url(['initrds', j], 'initrd URL', t));
  const scope = { ...base, os: { ...base.os, kernel, initrds } };

  // initrd=<name> words come first on the kernel line; names must be distinct for the kernel to get each one.
  const seen = new Set<string>();
  initrds.forEach((u, j) => {
    if (u === '') return;
    const name = decodeName(ipxeImageName(u));
    const problem =
      name === ''
        ? 'has no file name (iPXE names an initrd after the last path segment)'
        : seen.has(name)
          ? `has the same file name "${name}" as another initrd; the kernel could not tell them apart`
          : cmdlineEntryProblem(`initrd=${name}`);
    seen.add(name);
    if (problem) diagnostics.push(os.src.diag(['initrds', j], `initrd URL ${JSON.stringify(u)} ${problem}`));
  });

  const words: string[] = [];
  const addEntries = (src: SourceDoc, entries: readonly CmdlineEntry[] | undefined): void => {
    (entries ?? []).forEach((entry, j) => {
      let text: string | undefined;
      let path: YamlPath = ['cmdline', j];
      if (typeof entry === 'string') {
        text = field(src, path, entry, scope);
      } else {
        const [key, value] = Object.entries(entry)[0]!;
        path = ['cmdline', j, key];
        const v =
          typeof value === 'string' ? field(src, path, value, scope) : value === null ? null : String(value);
        text = v === undefined ? undefined : mapEntryText(key, v);
      }
      if (text === undefined || text === '') return;
      const problem =
        cmdlineEntryProblem(text) ?? (input.loader === 'grub' ? grubWordProblem(text) : undefined);
      if (problem) {
        diagnostics.push(
          src.diag(path, `kernel command line entry ${JSON.stringify(text)} for ${context} ${problem}`),
        );
      }
      words.push(text);
    });
  };
  addEntries(os.src, osSpec.cmdline);
  addEntries(boot.src, bootSpec.cmdline);
  const cmdline = joinCmdline(words);

  let config: RenderedStage['config'];
  const unattended = bootSpec.unattended;
  if (unattended) {
    const out = engine.renderAsset(unattended.type, unattended.template, scope);
    if (!out) {
      diagnostics.push(
        boot.src.diag(
          ['unattended', 'template'],
          `unknown template assets/${unattended.type}/${unattended.template}`,
        ),
      );
    } else if (out.error) {
      const e = out.error;
      diagnostics.push({ file: e.file ?? boot.file, line: e.line, col: e.col, message: renderFailure(e) });
    } else {
      const problem = configProblem(unattended.type, out.text);
      const file = `assets/${unattended.type}/${unattended.template}`;
      if (problem)
        diagnostics.push({ file, line: 1, col: 1, message: `rendered for ${context}: ${problem}` });
      config = { type: unattended.type, contentType: CONTENT_TYPES[unattended.type], text: out.text };
    }
  }

  const tasks = (key: 'before_shutdown' | 'validate'): RenderedTask[] =>
    (bootSpec[key] ?? []).map((t: TaskSpec, j): RenderedTask => {
      const at = (...rest: (string | number)[]): YamlPath => [key, j, ...rest];
      return {
        name: t.name,
        image: t.image,
        command: (t.command ?? []).map((c, k) => field(boot.src, at('command', k), c, scope) ?? ''),
        args: (t.args ?? []).map((a, k) => field(boot.src, at('args', k), a, scope) ?? ''),
        env: Object.fromEntries(
          Object.entries(t.env ?? {}).map(([name, v]) => [
            name,
            // A reference stays one: the agent swaps in the value as it starts the container.
            typeof v === 'string'
              ? (field(boot.src, at('env', name), v, scope) ?? '')
              : secretPlaceholder(v.secret, v.field),
          ]),
        ),
        timeout_s: t.timeout_s ?? DEFAULT_TASK_TIMEOUT_S,
        retries: t.retries ?? 0,
      };
    });
  const beforeShutdown = tasks('before_shutdown');
  const validate = tasks('validate');

  let grub: string | undefined;
  if (input.loader === 'grub') {
    const agentHost = new URL(input.agentUrl).hostname;
    const grubPath = (path: YamlPath, what: string, u: string): string => {
      const p = grubTftpPath(u, agentHost);
      if (p.ok) return p.path;
      diagnostics.push(
        os.src.diag(path, `${what} ${JSON.stringify(u)} for ${context} (loader grub) ${p.problem}`),
      );
      return '';
    };
    const grubKernel = kernel === '' ? '' : grubPath(['kernel'], 'kernel URL', kernel);
    const grubInitrds = initrds.map((u, j) => (u === '' ? '' : grubPath(['initrds', j], 'initrd URL', u)));
    grub = buildGrubConfig({
      host: input.host,
      stageIndex: index,
      boot: boot.id,
      kernel: grubKernel,
      initrds: grubInitrds,
      cmdlineWords: words,
    });
  }

  if (diagnostics.length > before) return undefined;
  const ipxe = buildIpxeScript({
    host: input.host,
    stageIndex: index,
    boot: boot.id,
    kernel,
    initrds,
    cmdline,
  });
  const stage: RenderedStage = {
    index,
    boot: boot.id,
    os: os.id,
    kernel,
    initrds,
    cmdline,
    ipxe,
    beforeShutdown,
    validate,
  };
  if (config) stage.config = config;
  if (grub !== undefined) {
    stage.loader = 'grub';
    stage.grub = grub;
  }
  return stage;
}

/** iPXE decodes %-escapes in the URI path before it names the image. */
function decodeName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** Checks an unattended config can be read by what consumes it; undefined when fine. */
export function configProblem(type: AssetType, text: string): string | undefined {
  if (type === 'ignition') {
    try {
      JSON.parse(text);
    } catch (err) {
      // V8 quotes part of the input in its message: keep the diagnostic on one line.
      const msg = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
      const pos = /position (\d+)/.exec(msg);
      const line = pos ? text.slice(0, Number(pos[1])).split('\n').length : undefined;
      return `Ignition config is not valid JSON${line ? ` (output line ${line})` : ''}: ${msg}`;
    }
  } else if (type === 'cloud-config' && !text.startsWith('#cloud-config')) {
    return 'cloud-config must start with "#cloud-config" (cloud-init ignores it otherwise)';
  }
  return undefined;
}
