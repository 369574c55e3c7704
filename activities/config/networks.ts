/** A network named in an activity's input, or a non-retryable error naming the field and the fix. */
import { ConfigError, findNetwork, type LedgerDrConfig, type NetworkConfig } from '../../shared/config';
import { invalidInput } from '../errors';

export function networkForInput(config: LedgerDrConfig, name: string): NetworkConfig {
  try {
    return findNetwork(config, name);
  } catch (err) {
    if (err instanceof ConfigError) throw invalidInput(err.problems.map((p) => `input.${p}`).join('; '));
    throw err;
  }
}

/** The network, which must be of `kind`; `purpose` says what the procedure is for ("recovers CCF networks"). */
export function networkOfKind<K extends NetworkConfig['kind']>(
  config: LedgerDrConfig,
  name: string,
  kind: K,
  purpose: string,
): Extract<NetworkConfig, { kind: K }> {
  const network = networkForInput(config, name);
  if (network.kind !== kind) {
    throw invalidInput(`input.network: "${name}" is a ${network.kind} network; this procedure ${purpose}`);
  }
  return network as Extract<NetworkConfig, { kind: K }>;
}
