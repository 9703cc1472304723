export const IMAGE_NODE_VERSION: string;
export function nodeBinDir(env?: Record<string, string | undefined>): string;
export function dockerfileNodeLine(dockerfile: string): string | null;
export function ensureNode(env?: Record<string, string | undefined>): string;
