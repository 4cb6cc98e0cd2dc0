// nginx on 127.0.0.1 as the CDN an agent's /assets/ proxies to: it serves a folder, answers 500 under /broken/, and
// logs every request (method, path, status) to a file, so a test counts what reached the origin. Started in the
// foreground by this process and stopped by its PID.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../../../temporal/ports.ts';

export interface NginxOrigin {
  url: string;
  /** Requests that reached nginx for `uri` (all of them without). */
  requests(uri?: string): Promise<number>;
  stop(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** `www` is served at the root; `dir` holds the config, logs and temp folders. */
export async function startNginxOrigin(dir: string, www: string): Promise<NginxOrigin> {
  const port = await freePort();
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp, { recursive: true });
  // nginx's workers read as nobody.
  for (let d = www; d !== path.dirname(d) && d.startsWith(path.dirname(dir)); d = path.dirname(d))
    await chmod(d, 0o755).catch(() => undefined);
  const log = path.join(dir, 'access.log');
  await writeFile(log, '');
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `daemon off;
master_process on;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
events { worker_connections 64; }
http {
  log_format counted '$request_method $uri $status';
  access_log ${log} counted;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    location ~ /broken/ { return 500; }
  }
}
`,
  );
  const child: ChildProcess = spawn('/usr/sbin/nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await listening(port)); i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}); see ${dir}/error.log`);
    await delay(50);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async requests(uri) {
      const lines = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
      return uri === undefined ? lines.length : lines.filter((l) => l.split(' ')[1] === uri).length;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await Promise.race([gone, delay(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.race([gone, delay(2000)]);
    },
  };
}
