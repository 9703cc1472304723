export const TEMPORAL_SERVER_VERSION: string;
export const TEMPORAL_UI_VERSION: string;
export const GO_TOOLCHAIN: string;
export interface ClusterBinaries {
  server: string;
  sqlTool: string;
  ui: string;
}
export function serverDir(env?: Record<string, string | undefined>): string;
export function uiDir(env?: Record<string, string | undefined>): string;
export function clusterBinaries(env?: Record<string, string | undefined>): ClusterBinaries;
export function ensureServer(env?: Record<string, string | undefined>): ClusterBinaries;
export function ensureUi(env?: Record<string, string | undefined>): ClusterBinaries;
export function ensureCluster(env?: Record<string, string | undefined>): ClusterBinaries;
