// One call to every agent of a site with several (each answers DHCP and HTTP from its own cache, so each must
// hear of every gate). The host goes on as soon as one agent has it and the others have had a short grace to
// answer: an agent that is down does not hold the host up, it catches up from Temporal when it is back (its
// reconciler asks each running host for its gate). An agent's late failure is only noted.
import { condition } from '@temporalio/workflow';

/** How long the others may take once one agent has answered. */
const GRACE = '5 seconds';

export interface FanOutResult<T> {
  /** Answers of the agents that answered in time, by agent id. */
  answered: Map<string, T>;
  /** Agents that failed (or had not answered in the grace) when the call returned. */
  missing: string[];
  /** The failures of those that failed by then, by agent id. */
  failed: Map<string, unknown>;
}

/**
 * Calls `call(agent)` for every agent. Resolves when all answered, or one did and GRACE passed; rejects with the
 * last failure when none answered. `late` hears of the outcome of each call still running at that point.
 */
export async function toEveryAgent<T>(
  agents: readonly string[],
  call: (agent: string) => Promise<T>,
  late: (agent: string, outcome: { ok: true } | { ok: false; error: unknown }) => void,
  opts: { waitForAll?: boolean } = {},
): Promise<FanOutResult<T>> {
  const answered = new Map<string, T>();
  const failed = new Map<string, unknown>();
  let returned = false;
  for (const agent of agents) {
    call(agent).then(
      (v) => {
        answered.set(agent, v);
        if (returned) late(agent, { ok: true });
      },
      (err: unknown) => {
        failed.set(agent, err);
        if (returned) late(agent, { ok: false, error: err });
      },
    );
  }
  const settled = () => answered.size + failed.size === agents.length;
  await condition(() => settled() || (answered.size > 0 && opts.waitForAll !== true));
  if (!settled()) await condition(settled, GRACE);
  returned = true;
  if (answered.size === 0) throw [...failed.values()].pop();
  return { answered, missing: agents.filter((a) => !answered.has(a)), failed: new Map(failed) };
}
