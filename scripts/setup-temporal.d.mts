export const TEMPORAL_CLI_VERSION: string;
export const TEST_SERVER_VERSION: string;
export function cacheDir(env?: Record<string, string | undefined>): string;
export function cliPath(env?: Record<string, string | undefined>): string;
export function testServerPath(env?: Record<string, string | undefined>): string;
export function ensureCli(env?: Record<string, string | undefined>): string;
export function ensureTestServer(env?: Record<string, string | undefined>): string;
export function ensureTemporal(opts?: {
  only?: 'cli' | 'testServer';
  env?: Record<string, string | undefined>;
  allowSdkDownload?: boolean;
}): { cli?: string; testServer?: string };
