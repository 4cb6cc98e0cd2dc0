// A task container of a boot (before_shutdown, validate), rendered from the SoT: what the site's task runner
// starts. Plain JSON in workflow history: env values are rendered text, so a secret never belongs in one.
export interface RenderedTask {
  name: string;
  image: string;
  command: string[];
  args: string[];
  env: Record<string, string>;
  timeout_s: number;
  retries: number;
}
