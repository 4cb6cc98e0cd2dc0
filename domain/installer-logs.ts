// Installer log lines as the agents keep them and the API serves them: what a booting host sent over syslog or an
// HTTP post, matched to its host run. Plain JSON: the lines cross Temporal (an activity's result, a short workflow's
// result), never the host workflow's history, which gets a `log` boot event's summary only.

/** How a line reached the agent. */
export type InstallerLogTransport = 'syslog' | 'http';

export interface InstallerLogLine {
  /** Epoch ms at the agent. */
  at: number;
  transport: InstallerLogTransport;
  /** The sender's address. */
  from: string;
  /** Syslog severity, 0 (emergency) to 7 (debug), when the sender gave one. */
  severity?: number;
  /** Syslog APP-NAME or TAG, when the sender gave one. */
  app?: string;
  text: string;
}

/** Longest line kept, in UTF-8 bytes (longer ones are cut and marked): bounds every payload that carries lines. */
export const MAX_LOG_LINE_BYTES = 512;
/** Most lines one request for a host's lines returns: 500 × 512 bytes stays well under Temporal's 512 KB warning. */
export const MAX_LOG_LINES_PER_QUERY = 500;

export interface InstallerLogQuery {
  site: string;
  host: string;
  /** The host workflow run whose lines are wanted; default: the newest run this agent has lines of. */
  runId?: string;
  /** Most lines returned (the newest), at most MAX_LOG_LINES_PER_QUERY. */
  limit: number;
}

export interface InstallerLogAnswer {
  /** The agent that answered. */
  agent: string;
  /** The run the lines belong to (none when the agent holds no lines of the host). */
  runId?: string;
  /** Oldest first. */
  lines: InstallerLogLine[];
  /** Lines the agent received for the run in all (older ones may have been dropped by its bound). */
  received: number;
}
