// A secret and where it is resolved. The SoT and workflow history hold only references (e.g. `credentials: lab-bmc`);
// the agent's stores (agent/secrets) resolve one just before a BMC call and keep it in memory for that call only.

export interface Secret {
  username?: string;
  password?: string;
  token?: string;
  /** PEM, for the ssh driver. */
  privateKey?: string;
}

export interface SecretStore {
  /** The secret a reference names, or undefined when this store does not know it. */
  resolve(ref: string): Promise<Secret | undefined>;
  /** Where this store looks for `ref` (for "not found" messages; never shows a value). */
  describe(ref: string): string;
}
