// Joins the agent's boot events to the host's trace without touching workflow code. The site activity that opens
// a host's netboot gate runs inside the host workflow's trace (the activity interceptor makes its span the active
// one), so the span context is kept with the gate here, by MAC and run; the boot services' events for that MAC
// then become short spans under it. In memory only: after an agent restart, or for a gate the reconciler
// restored, boot events are not traced until the workflow next sets the gate. With tracing off nothing is kept.
import { context, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type { Attributes, SpanContext } from '@opentelemetry/api';
import { activeTracing } from './tracing.ts';

interface Kept {
  runId: string;
  span: SpanContext;
}

/** One entry per MAC with an open gate (a closed gate drops it), so this is bounded by the site's hosts. */
const byMac = new Map<string, Kept>();

/** Called where a gate is set, inside the activity's span: keeps (open) or forgets (closed) its trace. */
export function noteGateTrace(gate: { mac: string; runId: string; open: boolean }): void {
  if (!activeTracing()) return;
  const mac = gate.mac.toLowerCase();
  if (!gate.open) {
    if (byMac.get(mac)?.runId === gate.runId) byMac.delete(mac);
    return;
  }
  const span = trace.getActiveSpan()?.spanContext();
  if (span && trace.isSpanContextValid(span)) byMac.set(mac, { runId: gate.runId, span });
}

/**
 * A boot event the agent recorded for a host's run: a span in that run's trace, named `boot <kind>`, from `start`
 * (the observation) to now (queued for the workflow). Nothing when tracing is off or the run's gate was not set
 * inside a trace.
 */
export function traceBootEvent(
  mac: string,
  runId: string,
  kind: string,
  attributes: Attributes,
  start: number,
): void {
  const tracing = activeTracing();
  if (!tracing) return;
  const kept = byMac.get(mac.toLowerCase());
  if (!kept || kept.runId !== runId) return;
  const parent = trace.setSpanContext(ROOT_CONTEXT, kept.span);
  tracing.tracer
    .startSpan(
      `boot ${kind}`,
      {
        kind: SpanKind.SERVER,
        startTime: start,
        attributes: { 'vaquero.boot_event.kind': kind, 'vaquero.mac': mac.toLowerCase(), ...attributes },
      },
      parent,
    )
    .end();
}

/**
 * Runs `fn` (the agent's signal of a host's boot events) inside that run's trace, so the signal and the
 * workflow's handling of it join the host's trace instead of each starting one of its own.
 */
export function inBootTrace<T>(mac: string, runId: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (!activeTracing()) return fn();
  const kept = byMac.get(mac.toLowerCase());
  if (!kept || kept.runId !== runId) return fn();
  return context.with(trace.setSpanContext(ROOT_CONTEXT, kept.span), fn);
}
