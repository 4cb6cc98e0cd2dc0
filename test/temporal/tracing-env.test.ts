// Tracing is off unless the OTEL_* environment names an OTLP endpoint, and a setting vaquero cannot honour is an
// error at start, not silence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activeTracing, startTracing, tracesEndpoint } from '../../temporal/telemetry/tracing.ts';

test('no endpoint, or OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none: no tracing set up', () => {
  assert.equal(tracesEndpoint({}), undefined);
  assert.equal(startTracing('server', {}), undefined);
  assert.equal(activeTracing(), undefined);
  const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
  assert.equal(tracesEndpoint({ ...on, OTEL_SDK_DISABLED: 'true' }), undefined);
  assert.equal(tracesEndpoint({ ...on, OTEL_SDK_DISABLED: 'TRUE ' }), undefined);
  assert.equal(tracesEndpoint({ ...on, OTEL_TRACES_EXPORTER: 'none' }), undefined);
  assert.equal(startTracing('agent', { ...on, OTEL_SDK_DISABLED: 'true' }), undefined);
  assert.equal(activeTracing(), undefined);
});

test('the general endpoint gets /v1/traces; the traces endpoint is used as is and wins', () => {
  assert.equal(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }), 'http://c:4318/v1/traces');
  assert.equal(
    tracesEndpoint({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t.example/otlp/traces',
    }),
    'https://t.example/otlp/traces',
  );
  assert.equal(
    tracesEndpoint({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    }),
    'http://c:4318/v1/traces',
  );
});

test('settings vaquero cannot honour are refused with the variable named', () => {
  const on = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
  assert.throws(
    () => tracesEndpoint({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    /OTEL_EXPORTER_OTLP_PROTOCOL=grpc/,
  );
  assert.throws(
    () => tracesEndpoint({ ...on, OTEL_TRACES_EXPORTER: 'zipkin' }),
    /OTEL_TRACES_EXPORTER=zipkin/,
  );
  assert.throws(
    () => tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' }),
    /OTLP traces endpoint c:4318/,
  );
  assert.throws(() => tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }), /OTLP traces endpoint/);
});

test('with an endpoint, the service name defaults per role and shutdown turns it off again', async () => {
  const tracing = startTracing('worker', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  assert.ok(tracing);
  assert.equal(tracing.serviceName, 'vaquero-worker');
  assert.equal(tracing.endpoint, 'http://127.0.0.1:9/v1/traces');
  assert.equal(tracing.resource.attributes['service.name'], 'vaquero-worker');
  assert.equal(activeTracing(), tracing);
  await tracing.shutdown();
  assert.equal(activeTracing(), undefined);
  const named = startTracing('worker', {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
    OTEL_SERVICE_NAME: 'prov-worker-a',
  });
  assert.equal(named?.serviceName, 'prov-worker-a');
  await named?.shutdown();
});
