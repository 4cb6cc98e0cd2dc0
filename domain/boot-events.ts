// What a booting host does, as the agents observe it and the host workflow counts it.
// Like all data that crosses the workflow boundary in this folder (inputs, signals, queries, activity payloads). Plain JSON only:
// it is stored in workflow history. Never put a secret here: BMC credentials travel as references.

/** Netboot steps in the order a booting host goes through them. */
export const NETBOOT_STEPS = ['dhcp', 'tftp', 'ipxe', 'kernel', 'config'] as const;
export type NetbootStep = (typeof NETBOOT_STEPS)[number];

/**
 * What an agent (or a sim host) observes while a host boots. The last two never move a boot forward; they put what
 * the host said or was refused on its timeline: `log` is a summary of installer log lines the agent received (never
 * every line), `refused` a boot file or answer the agent refused (not found, outside its root, gate closed).
 */
export type BootEventKind =
  'dhcp' | 'tftp' | 'ipxe' | 'kernel' | 'initrd' | 'config' | 'checkpoint' | 'log' | 'refused';

export interface BootEvent {
  /** Unique per observation: the workflow drops repeats, so a re-delivered outbox entry counts once. */
  id: string;
  kind: BootEventKind;
  mac: string;
  /** Epoch ms at the observer. */
  at: number;
  /** Who observed it: agent id or `sim`. */
  source: string;
  detail?: string;
  /**
   * The host workflow run the boot belongs to (its netboot gate's). Agents signal that run only: an event held in
   * an outbox while its run ended is dropped (logged and counted), never counted by a later run of the host.
   */
  runId?: string;
}
