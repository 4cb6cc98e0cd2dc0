// What the agent's site worker can do besides its gates, from its config: every BMC driver (ipmi, redfish, ssh;
// container when a container engine is configured) and the task-container runner on that engine.
import Docker from 'dockerode';
import type { PowerDriver } from '../activities/power/driver.ts';
import { createPowerDrivers } from '../activities/power/power-drivers.ts';
import { ContainerTaskRunner } from '../activities/tasks/container-task-runner.ts';
import type { RegistryAuth } from '../activities/tasks/image-pull.ts';
import type { TaskRunner } from '../activities/tasks/task-runner.ts';
import type { SecretStore } from '../domain/secret.ts';
import type { AgentConfig } from './config.ts';

export interface SiteCapabilities {
  drivers: Partial<Record<PowerDriver['name'], PowerDriver>>;
  /** Runs task containers; absent without `tasks.engine`. */
  tasks?: TaskRunner;
  docker?: Docker;
}

/** A Docker-API endpoint as dockerode takes it: unix:///path, tcp://host:port (plain HTTP) or http(s)://host:port. */
export function dockerFromEndpoint(endpoint: string): Docker {
  if (endpoint.startsWith('unix://')) return new Docker({ socketPath: endpoint.slice('unix://'.length) });
  const url = new URL(endpoint.replace(/^tcp:/, 'http:'));
  return new Docker({
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 2376 : 2375)),
  });
}

export function siteCapabilities(config: AgentConfig, secrets: SecretStore): SiteCapabilities {
  const docker = config.tasks.engine !== undefined ? dockerFromEndpoint(config.tasks.engine) : undefined;
  const drivers = createPowerDrivers({
    ...(docker ? { docker } : {}),
    ...(config.bmc.ipmitool !== undefined ? { ipmitool: config.bmc.ipmitool } : {}),
  });
  const ref = config.tasks.registry_auth;
  // Resolved at each pull, so a rotated registry password is used without a restart.
  const registryAuth = ref
    ? async (): Promise<RegistryAuth> => {
        const s = await secrets.resolve(ref);
        if (!s?.username || !s.password) {
          throw new Error(
            `tasks.registry_auth: secret ${ref} needs username and password (looked in ${secrets.describe(ref)})`,
          );
        }
        return { username: s.username, password: s.password };
      }
    : undefined;
  return {
    drivers,
    ...(docker
      ? {
          docker,
          tasks: new ContainerTaskRunner(docker, {
            pullPolicy: config.tasks.pull,
            networkMode: config.tasks.network,
            ...(registryAuth ? { registryAuth } : {}),
          }),
        }
      : {}),
  };
}
