// `vaquero agent --config FILE`: run a site's agent (boot services, model cache, event outbox, site worker), all
// of it made from the file by startAgent. `--check` validates the file and says what would run, then exits.
import type { Command } from 'commander';
import { AgentConfigError, loadAgentConfig } from '../../agent/config.ts';
import { startAgent } from '../../agent/agent.ts';
import { describeAgentPlan } from '../../agent/agent-plan.ts';
import { startTracing } from '../../temporal/telemetry/tracing.ts';

export function register(program: Command): void {
  program
    .command('agent')
    .description("run a site's agent: DHCP, TFTP and HTTP boot services, and the site worker")
    .requiredOption('--config <file>', 'agent configuration (YAML)')
    .option('--check', 'validate the configuration, print what would run, and exit')
    .action(async (opts: { config: string; check?: boolean }) => {
      let config;
      try {
        config = await loadAgentConfig(opts.config);
      } catch (err) {
        if (!(err instanceof AgentConfigError)) throw err;
        process.stderr.write(`${err.message}\n`);
        process.exitCode = 2;
        return;
      }
      if (opts.check) {
        const plan = await describeAgentPlan(config);
        process.stdout.write(plan.text);
        process.exitCode = plan.problems.length > 0 ? 2 : 0;
        return;
      }
      const tracing = startTracing('agent', process.env, (m) =>
        process.stderr.write(`vaquero agent: ${m}\n`),
      );
      const agent = await startAgent(config);
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        void agent
          .stop()
          .then(() => tracing?.shutdown())
          .finally(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      process.stdout.write(
        `vaquero agent ${config.agent_id} (site ${config.site}) serving HTTP on ${agent.httpUrl}; drivers ${agent.drivers.join(', ')}; queues ${agent.queues.join(', ')}\n`,
      );
    });
}
