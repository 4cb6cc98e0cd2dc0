// One syslog datagram → the lines it carries. RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG`), RFC 3164
// (`<PRI>Mmm dd hh:mm:ss HOST TAG[pid]: MSG`, as busybox syslogd and `logger --rfc3164` send it) and plain text with
// no PRI at all (the kernel's netconsole). Whatever the sender wrote, the result is bounded: a few lines per
// datagram, each cut to MAX_LOG_LINE_BYTES, control characters replaced; a datagram that parses as nothing gives none.
import { MAX_LOG_LINE_BYTES } from '../../domain/installer-logs.ts';

export interface SyslogLine {
  severity?: number;
  app?: string;
  text: string;
}

/** Lines kept from one datagram (netconsole may pack a few kernel lines into one). */
export const MAX_LINES_PER_DATAGRAM = 16;

const MONTHS = 'Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec';
/**
 * RFC 3164's TIMESTAMP and HOSTNAME, then a TAG (up to 48 characters, here) ending in `:` or `[pid]:`. The HOSTNAME
 * is optional (busybox's syslogd forwards without one), so a word ending in `:` is the TAG, never a host.
 */
const RFC3164_HEADER = new RegExp(`^(?:${MONTHS}) [ \\d]\\d \\d\\d:\\d\\d:\\d\\d (?:\\S*[^\\s:] (?=\\S))?`);
const RFC3164_TAG = /^([^\s:[\]]{1,48})(?:\[[^\]\s]{0,32}\])?: ?/;

export function parseSyslogDatagram(datagram: Buffer): SyslogLine[] {
  // Syslog is UTF-8 (5424) or ASCII in practice; a broken sequence becomes U+FFFD rather than an error.
  let text = datagram.toString('utf8');
  let severity: number | undefined;
  let app: string | undefined;
  const pri = /^<(\d{1,3})>/.exec(text);
  if (pri && Number(pri[1]) <= 191) {
    severity = Number(pri[1]) % 8;
    text = text.slice(pri[0].length);
    if (text.startsWith('1 ')) {
      const m = parse5424(text.slice(2));
      if (!m) return [];
      text = m.msg;
      app = m.app;
    } else {
      text = text.replace(RFC3164_HEADER, '');
      const tag = RFC3164_TAG.exec(text);
      if (tag) {
        app = tag[1];
        text = text.slice(tag[0].length);
      }
    }
  }
  const out: SyslogLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = cleanLine(raw);
    if (line === '') continue;
    out.push({
      ...(severity !== undefined ? { severity } : {}),
      ...(app !== undefined ? { app: cleanLine(app) } : {}),
      text: line,
    });
    if (out.length === MAX_LINES_PER_DATAGRAM) break;
  }
  return out;
}

/** TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]; undefined when the header is not RFC 5424's. */
function parse5424(rest: string): { app?: string; msg: string } | undefined {
  const fields: string[] = [];
  let i = 0;
  for (let f = 0; f < 5; f++) {
    const sp = rest.indexOf(' ', i);
    if (sp < 0) return undefined;
    fields.push(rest.slice(i, sp));
    i = sp + 1;
  }
  const app = fields[2];
  // STRUCTURED-DATA: `-` or one or more [elements], whose values may hold escaped `]` and `"`.
  if (rest[i] === '-') i++;
  else if (rest[i] === '[') {
    let inQuotes = false;
    for (; i < rest.length; i++) {
      const c = rest[i];
      if (c === '\\') i++;
      else if (c === '"') inQuotes = !inQuotes;
      else if (c === ']' && !inQuotes && rest[i + 1] !== '[') {
        i++;
        break;
      }
    }
  } else return undefined;
  let msg = rest.slice(i).replace(/^ /, '');
  if (msg.startsWith('\uFEFF')) msg = msg.slice(1);
  return { ...(app && app !== '-' ? { app } : {}), msg };
}

/** Control characters become spaces (no terminal escapes reach a log or a page), cut to MAX_LOG_LINE_BYTES. */
export function cleanLine(raw: string): string {
  // eslint-disable-next-line no-control-regex
  const line = raw.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trimEnd();
  return cutToBytes(line, MAX_LOG_LINE_BYTES);
}

export function cutToBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  const mark = ' …';
  let cut = Buffer.from(text)
    .subarray(0, max - Buffer.byteLength(mark))
    .toString('utf8');
  // A multi-byte character cut in half decodes as U+FFFD: drop it.
  cut = cut.replace(/\uFFFD$/, '');
  return cut + mark;
}
