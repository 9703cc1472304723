// FCM HTTP v1 (POST /v1/projects/{project}/messages:send) with an OAuth2 access token that
// google-auth-library makes from the service account (a JWT signed with its private key,
// exchanged at its token_uri). FCM_BASE_URL replaces https://fcm.googleapis.com; a service
// account whose token_uri is not Google's has its token requests sent there (through the
// library's own Gaxios transporter).
import { readFileSync } from 'node:fs';
import { JWT } from 'google-auth-library';
import { ApplicationFailure } from '@temporalio/common';
import { httpFailure, permanent } from '../../errors.js';
import { ErrorType } from '../../../domain/errors.js';
import { DeviceGone, type PushProvider } from './types.js';

export const DEFAULT_FCM_BASE_URL = 'https://fcm.googleapis.com';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

interface ServiceAccount {
  project_id: string;
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

/** FCM_SERVICE_ACCOUNT: the JSON itself, or a path to it. */
export function readServiceAccount(value: string): ServiceAccount {
  const text = value.trim().startsWith('{') ? value : readFileSync(value, 'utf8');
  const sa = JSON.parse(text) as ServiceAccount;
  if (!sa.project_id || !sa.client_email || !sa.private_key) throw new Error('FCM_SERVICE_ACCOUNT must hold project_id, client_email and private_key');
  return sa;
}

export function createFcmProvider(opts: { serviceAccount?: string; baseUrl?: string; timeoutMs?: number }): PushProvider | null {
  if (!opts.serviceAccount) return null;
  const sa = readServiceAccount(opts.serviceAccount);
  const jwt = new JWT({ email: sa.client_email, key: sa.private_key, keyId: sa.private_key_id, scopes: [SCOPE] });
  if (sa.token_uri && sa.token_uri !== GOOGLE_TOKEN_URL) {
    const tokenUri = new URL(sa.token_uri);
    jwt.transporter.interceptors.request.add({
      resolved: async (o) => {
        if (String(o.url) === GOOGLE_TOKEN_URL) o.url = tokenUri;
        return o;
      },
    });
  }
  const endpoint = `${(opts.baseUrl ?? DEFAULT_FCM_BASE_URL).replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(sa.project_id)}/messages:send`;
  const timeoutMs = opts.timeoutMs ?? 15_000;

  return {
    name: 'fcm',
    async send(device, m) {
      if (!device.token) throw permanent(ErrorType.NoAddress, 'an fcm device without a token');
      let token: string | null | undefined;
      try {
        token = (await jwt.getAccessToken()).token;
      } catch (err) {
        const status = (err as { response?: { status?: number } }).response?.status;
        if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) throw permanent(ErrorType.ProviderRejected, `fcm: the service account's token was refused (${status})`);
        throw new Error(`fcm: no access token (${status ?? 'no answer'})`);
      }
      const message = {
        message: {
          token: device.token,
          notification: { title: m.title, body: m.body },
          ...(m.data ? { data: m.data } : {}),
          android: { priority: m.urgency === 'high' ? 'HIGH' : 'NORMAL', collapse_key: m.collapseKey, ttl: `${m.ttlSeconds}s` },
          apns: { headers: { 'apns-priority': m.urgency === 'high' ? '10' : '5', 'apns-collapse-id': m.collapseKey.slice(0, 64) } },
          webpush: { headers: { Urgency: m.urgency, TTL: String(m.ttlSeconds) }, ...(m.url ? { fcm_options: { link: m.url } } : {}) },
        },
      };
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(message),
          signal: AbortSignal.any([m.signal, AbortSignal.timeout(timeoutMs)]),
        });
      } catch {
        m.signal.throwIfAborted();
        throw new Error('fcm request failed: no answer');
      }
      const answer = (await res.json().catch(() => null)) as { name?: string; error?: { status?: string; message?: string; details?: Array<{ errorCode?: string }> } } | null;
      if (res.ok && answer?.name) return answer.name;
      const code = answer?.error?.details?.find((d) => d.errorCode)?.errorCode ?? answer?.error?.status ?? '';
      if (res.status === 404 || code === 'UNREGISTERED') throw new DeviceGone('fcm', code || String(res.status));
      if (res.status === 400 && /registration token/i.test(answer?.error?.message ?? '')) throw new DeviceGone('fcm', 'invalid registration token');
      if (res.status === 401) {
        // An expired or revoked token: the next attempt makes a new one.
        jwt.credentials = {};
        throw ApplicationFailure.create({ type: ErrorType.ProviderUnavailable, message: 'fcm answered 401: the access token was refused', nonRetryable: false });
      }
      throw httpFailure('fcm', res.status, `${code}${answer?.error?.message ? `: ${answer.error.message}` : ''}`, res.headers.get('retry-after'));
    },
  };
}
