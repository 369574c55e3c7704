/**
 * Requests to the Splice validator admin API with the configured bearer token. A refused token is an
 * operator's fix (wrong token, wrong audience), so it fails at once and says which setting to check.
 */
import { ApplicationFailure } from '@temporalio/common';
import axios, { type AxiosResponse, type ResponseType } from 'axios';
import type { CantonNetworkConfig } from '../../shared/config';
import { readSecret } from '../../shared/secrets';
import { FailureType } from '../errors';

export async function validatorGet<T = unknown>(
  networkName: string,
  network: CantonNetworkConfig,
  path: string,
  options: {
    params?: Record<string, string>;
    responseType?: ResponseType;
    timeoutMs?: number;
    signal?: AbortSignal;
  } = {},
): Promise<AxiosResponse<T>> {
  const field = `networks.${networkName}.canton`;
  const token = await readSecret(network.canton.auth.token, `${field}.auth.token`);
  const response = await axios.get<T>(`${network.canton.validatorUrl.replace(/\/$/, '')}${path}`, {
    headers: { authorization: `Bearer ${token.reveal()}` },
    params: options.params,
    responseType: options.responseType ?? 'json',
    // Identity dumps are kept as the exact text the validator sent.
    ...(options.responseType === 'text' ? { transformResponse: (d: unknown) => d } : {}),
    validateStatus: () => true,
    timeout: options.timeoutMs ?? 30_000,
    signal: options.signal,
  });
  if (response.status === 401 || response.status === 403) {
    if (options.responseType === 'stream') (response.data as NodeJS.ReadableStream & { destroy(): void }).destroy();
    throw ApplicationFailure.nonRetryable(
      `validator admin API refused the token (HTTP ${response.status}); check ${field}.auth.token and its audience ${network.canton.auth.audience}`,
      FailureType.Refused,
    );
  }
  return response;
}
