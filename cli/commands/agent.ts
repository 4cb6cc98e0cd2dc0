// `vaquero agent --config FILE`: run a site's agent (boot services, model cache, event outbox, site worker).
import type { Command } from 'commander';
import { loadAgentConfig } from '../../agent/config.ts';
import { startAgent } from '../../agent/agent.ts';
import { agentBootServices } from '../../agent/boot-services.ts';
import { IpmiDriver } from '../../activities/power/ipmi-driver.ts';
import { RedfishDriver } from '../../activities/power/redfish-driver.ts';

export function register(program: Command): void {
  program
    .command('agent')
    .description("run a site's agent: DHCP, TFTP and HTTP boot services, and the site worker")
    .requiredOption('--config <file>', 'agent configuration (YAML)')
    .action(async (opts: { config: string }) => {
      const config = await loadAgentConfig(opts.config);
      // The real BMC drivers: without them the site worker fails every power stage ("no ipmi power driver").
      const agent = await startAgent(config, {
        services: agentBootServices,
        drivers: { ipmi: new IpmiDriver(), redfish: new RedfishDriver() },
      });
      const stop = () => {
        void agent.stop().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.stdout.write(
        `vaquero agent ${config.agent_id} (site ${config.site}) serving HTTP on ${agent.httpUrl}\n`,
      );
    });
}
