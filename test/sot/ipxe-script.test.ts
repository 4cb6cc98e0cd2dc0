// The iPXE script as an agent serves it (withBootRetry): its exact text, and what it does when a fetch fails, run
// through a small interpreter of the iPXE commands it uses, with iPXE's rules (core/exec.c, image/script.c): a
// line's commands joined by `&&`/`||` run on the previous one's success/failure, an empty command succeeds, a
// failed line ends the script, `goto` jumps to a `:label`, `chain --replace` runs the fetched script in this
// one's place, `inc` on an unset setting starts from 0, settings live until the machine resets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildIpxeScript, IPXE_BOOT_RETRIES, withBootRetry } from '../../sot/ipxe-script.ts';

const A1 = 'http://10.77.56.1:8080';
const A2 = 'http://10.77.56.3:8080';
const MAC = '52:54:00:77:56:0a';

/** The script one agent serves (rendered with A1's URL, rebased to `agent`'s as served-base.ts does). */
function served(agent: string): string {
  return withBootRetry(
    buildIpxeScript({
      host: 'bios-1',
      stageIndex: 1,
      boot: 'tiny-a',
      kernel: `${A1}/assets/linux`,
      initrds: [`${A1}/assets/tiny-initrd.gz`],
      cmdline: `console=ttyS0 callback=${A1}/checkpoint/t0k`,
    }),
  ).replaceAll(A1, agent);
}

const GIVE_UP = '#!ipxe\necho vaquero: no network boot for this host now\nexit 1\n';

/** What the network does for the interpreter: who answers DHCP now, and which URLs can be fetched. */
interface World {
  /** The script URL of the agent that answers a DHCP now; undefined: no answer. */
  dhcp(): string | undefined;
  /** A script's text, `binary` for a kernel or initrd, undefined when the fetch fails. */
  fetch(url: string): string | undefined;
  /** Whether `boot` of these images starts the kernel (default: it does). */
  boots?(images: readonly string[]): boolean;
}

interface Run {
  outcome: 'booted' | 'failed' | 'ended';
  /** What it did, in order: `fetch <url> ok|failed`, `dhcp <url>|failed`, `boot`, `exit <n>`. */
  trace: string[];
  settings: Map<string, string>;
}

/** Runs `script` (fetched from `url`, as the firmware's first DHCP gave it) the way iPXE would. */
function runIpxe(url: string, world: World): Run {
  const trace: string[] = [];
  const settings = new Map<string, string>([['filename', url]]);
  const images: string[] = [];
  const fetch = (u: string) => {
    const got = world.fetch(u);
    trace.push(`fetch ${u} ${got === undefined ? 'failed' : 'ok'}`);
    return got;
  };
  let text = fetch(url);
  if (text === undefined) return { outcome: 'failed', trace, settings };
  for (let steps = 0; steps < 10_000; steps++) {
    assert.match(text, /^#!ipxe\n/);
    const lines = text.split('\n');
    let pc = 1;
    let next: string | undefined;
    let result: Run['outcome'] | undefined;
    lineLoop: while (pc < lines.length) {
      const line = lines[pc++]!.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(':')) continue;
      const tokens = line.split(/\s+/);
      let rc = 0;
      let run = true;
      let i = 0;
      while (i <= tokens.length) {
        let j = i;
        while (j < tokens.length && tokens[j] !== '||' && tokens[j] !== '&&') j++;
        const argv = tokens
          .slice(i, j)
          .map((t) => t.replace(/\$\{([^}]+)\}/g, (_m, n: string) => settings.get(n) ?? ''));
        if (run) {
          const [cmd, ...args] = argv;
          switch (cmd) {
            case undefined:
              rc = 0;
              break;
            case 'kernel':
            case 'initrd':
              rc = fetch(args[0]!) === 'binary' ? 0 : 1;
              if (rc === 0) images.push(args[0]!);
              break;
            case 'boot':
              trace.push('boot');
              if (images.length > 0 && (world.boots?.(images) ?? true)) {
                result = 'booted';
                break lineLoop;
              }
              rc = 1;
              break;
            case 'imgfree':
              images.length = 0;
              break;
            case 'inc': {
              const n = Number(settings.get(args[0]!) ?? '0');
              settings.set(args[0]!, String(n + Number(args[1] ?? '1')));
              break;
            }
            case 'iseq':
              rc = args[0] === args[1] ? 0 : 1;
              break;
            case 'echo':
            case 'sleep':
              break;
            case 'dhcp': {
              const f = world.dhcp();
              trace.push(`dhcp ${f ?? 'failed'}`);
              if (f === undefined) rc = 1;
              else settings.set('filename', f);
              break;
            }
            case 'chain': {
              assert.deepEqual(args.slice(0, 2), ['--replace', '--autofree']);
              const got = fetch(args[2]!);
              if (got === undefined) rc = 1;
              else {
                next = got;
                break lineLoop;
              }
              break;
            }
            case 'goto': {
              const at = lines.indexOf(`:${args[0]}`);
              assert.ok(at > 0, `no label ${args[0]}`);
              pc = at + 1;
              continue lineLoop;
            }
            case 'exit':
              trace.push(`exit ${args[0] ?? 0}`);
              result = args[0] && args[0] !== '0' ? 'failed' : 'ended';
              break lineLoop;
            default:
              assert.fail(`the interpreter does not know ${cmd}`);
          }
        }
        if (j >= tokens.length) break;
        run = tokens[j] === '&&' ? rc === 0 : rc !== 0;
        i = j + 1;
      }
      if (rc !== 0) {
        result = 'failed';
        break;
      }
    }
    if (result) return { outcome: result, trace, settings };
    if (next === undefined) return { outcome: 'ended', trace, settings };
    text = next;
  }
  assert.fail('the script did not end');
}

/** Agents by base URL: alive or not, and the script each serves. */
function world(agents: Record<string, { alive: () => boolean; script?: string }>): World {
  return {
    dhcp: () => {
      const up = Object.keys(agents).find((a) => agents[a]!.alive());
      return up && `${up}/ipxe?mac=${MAC}&boot=cred`;
    },
    fetch: (u) => {
      const base = Object.keys(agents).find((a) => u.startsWith(`${a}/`));
      if (!base || !agents[base]!.alive()) return undefined;
      if (u.includes('/ipxe?')) return agents[base]!.script ?? served(base);
      return u.includes('/assets/') ? 'binary' : undefined;
    },
  };
}

describe('the served iPXE script: back to DHCP after a failed fetch or boot', () => {
  test('exact text: every fetch and the boot jump to the retry, which is bounded', () => {
    assert.equal(IPXE_BOOT_RETRIES, 3);
    assert.equal(
      served(A1),
      [
        '#!ipxe',
        '# vaquero: host bios-1, stage 1 (tiny-a)',
        `kernel ${A1}/assets/linux initrd=tiny-initrd.gz console=ttyS0 callback=${A1}/checkpoint/t0k || goto vaquero_retry`,
        `initrd ${A1}/assets/tiny-initrd.gz || goto vaquero_retry`,
        'boot || goto vaquero_retry',
        ':vaquero_retry',
        'imgfree',
        'inc vaquero_retries',
        'iseq ${vaquero_retries} 4 && goto vaquero_give_up ||',
        'echo vaquero: boot failed: DHCP again and chain the answer (retry ${vaquero_retries} of 3)',
        'sleep 2',
        'dhcp || goto vaquero_retry',
        'chain --replace --autofree ${filename} || goto vaquero_retry',
        ':vaquero_give_up',
        'echo vaquero: boot failed after 3 retries: giving up',
        'exit 1',
        '',
      ].join('\n'),
    );
  });

  test('the command line iPXE hands the kernel is the rendered one: the jump is after `||`', () => {
    const kernel = served(A1).split('\n')[2]!;
    const [command] = kernel.split(' || ');
    assert.equal(
      command,
      `kernel ${A1}/assets/linux initrd=tiny-initrd.gz console=ttyS0 callback=${A1}/checkpoint/t0k`,
    );
  });

  test('already served once, or with no initrd: the retry is added once, to every line that can fail', () => {
    const once = served(A1);
    assert.equal(withBootRetry(once), once);
    const bare = withBootRetry(
      '#!ipxe\n# vaquero: host h, stage 1 (b)\nkernel http://m.example/linux\nboot\n',
    );
    assert.deepEqual(bare.split('\n').slice(2, 5), [
      'kernel http://m.example/linux || goto vaquero_retry',
      'boot || goto vaquero_retry',
      ':vaquero_retry',
    ]);
    assert.equal(withBootRetry(served(A1), 5).match(/vaquero_retry$/gm)?.length, 6);
    assert.match(
      withBootRetry(
        buildIpxeScript({
          host: 'h',
          stageIndex: 1,
          boot: 'b',
          kernel: 'http://m/k',
          initrds: [],
          cmdline: '',
        }),
        5,
      ),
      /^iseq \$\{vaquero_retries\} 6 && goto vaquero_give_up \|\|$/m,
    );
  });

  test('the agent that served the script is gone before the kernel: DHCP again, the other agent boots it', () => {
    let a2 = true;
    const w = world({ [A2]: { alive: () => a2 }, [A1]: { alive: () => true } });
    const fetch = w.fetch;
    w.fetch = (u) => {
      // A2 is SIGKILLed right after it served the script.
      const got = fetch(u);
      if (u.startsWith(`${A2}/ipxe?`)) a2 = false;
      return got;
    };
    const r = runIpxe(`${A2}/ipxe?mac=${MAC}&boot=cred`, w);
    assert.equal(r.outcome, 'booted');
    assert.deepEqual(r.trace, [
      `fetch ${A2}/ipxe?mac=${MAC}&boot=cred ok`,
      `fetch ${A2}/assets/linux failed`,
      `dhcp ${A1}/ipxe?mac=${MAC}&boot=cred`,
      `fetch ${A1}/ipxe?mac=${MAC}&boot=cred ok`,
      `fetch ${A1}/assets/linux ok`,
      `fetch ${A1}/assets/tiny-initrd.gz ok`,
      'boot',
    ]);
    assert.equal(r.settings.get('vaquero_retries'), '1');
  });

  test('gone during the initrd: the kernel already fetched is freed, the other agent serves both', () => {
    let a2 = true;
    const w = world({ [A2]: { alive: () => a2 }, [A1]: { alive: () => true } });
    const fetch = w.fetch;
    w.fetch = (u) => {
      const got = fetch(u);
      if (u === `${A2}/assets/linux`) a2 = false;
      return got;
    };
    const r = runIpxe(`${A2}/ipxe?mac=${MAC}&boot=cred`, w);
    assert.equal(r.outcome, 'booted');
    assert.deepEqual(
      r.trace.filter((t) => t.startsWith('fetch')).map((t) => t.replace(`?mac=${MAC}&boot=cred`, '')),
      [
        `fetch ${A2}/ipxe ok`,
        `fetch ${A2}/assets/linux ok`,
        `fetch ${A2}/assets/tiny-initrd.gz failed`,
        `fetch ${A1}/ipxe ok`,
        `fetch ${A1}/assets/linux ok`,
        `fetch ${A1}/assets/tiny-initrd.gz ok`,
      ],
    );
  });

  test('no agent left: three retries, then the script gives up (the workflow power cycles the host)', () => {
    let up = true;
    const w = world({ [A2]: { alive: () => up } });
    const fetch = w.fetch;
    w.fetch = (u) => {
      const got = fetch(u);
      up = false;
      return got;
    };
    const r = runIpxe(`${A2}/ipxe?mac=${MAC}&boot=cred`, w);
    assert.equal(r.outcome, 'failed');
    assert.deepEqual(r.trace.slice(1), [
      `fetch ${A2}/assets/linux failed`,
      'dhcp failed',
      'dhcp failed',
      'dhcp failed',
      'exit 1',
    ]);
  });

  test('an agent answers DHCP but no fetch of its works: the count goes on across the chained scripts', () => {
    const w = world({ [A1]: { alive: () => true } });
    const fetch = w.fetch;
    w.fetch = (u) => (u.includes('/assets/') ? undefined : fetch(u));
    const r = runIpxe(`${A1}/ipxe?mac=${MAC}&boot=cred`, w);
    assert.equal(r.outcome, 'failed');
    assert.equal(
      r.trace.filter((t) => t.startsWith('fetch') && t.includes('/ipxe?')).length,
      1 + IPXE_BOOT_RETRIES,
    );
    assert.equal(r.trace.filter((t) => t.startsWith('dhcp')).length, IPXE_BOOT_RETRIES);
    assert.equal(r.trace.at(-1), 'exit 1');
    assert.equal(r.settings.get('vaquero_retries'), String(IPXE_BOOT_RETRIES + 1));
  });

  test('the boot itself fails: retried like a fetch, with only the new images', () => {
    const w = world({ [A1]: { alive: () => true } });
    const booted: string[][] = [];
    // The first boot fails (a kernel that does not start); the second boots what the new script fetched alone.
    w.boots = (images) => booted.push([...images]) > 1;
    const r = runIpxe(`${A1}/ipxe?mac=${MAC}&boot=cred`, w);
    assert.equal(r.outcome, 'booted');
    assert.deepEqual(booted, [
      [`${A1}/assets/linux`, `${A1}/assets/tiny-initrd.gz`],
      [`${A1}/assets/linux`, `${A1}/assets/tiny-initrd.gz`],
    ]);
    assert.equal(r.trace.filter((t) => t === 'boot').length, 2);
  });

  test('the answer after a failure is a closed gate: its give-up script ends the boot, no more DHCP', () => {
    let a2 = true;
    const w = world({ [A2]: { alive: () => a2 }, [A1]: { alive: () => true, script: GIVE_UP } });
    const fetch = w.fetch;
    w.fetch = (u) => {
      const got = fetch(u);
      if (u.startsWith(`${A2}/ipxe?`)) a2 = false;
      return got;
    };
    const r = runIpxe(`${A2}/ipxe?mac=${MAC}&boot=cred`, w);
    assert.equal(r.outcome, 'failed');
    assert.deepEqual(r.trace.slice(-2), [`fetch ${A1}/ipxe?mac=${MAC}&boot=cred ok`, 'exit 1']);
    assert.equal(r.trace.filter((t) => t.startsWith('dhcp')).length, 1);
  });
});
