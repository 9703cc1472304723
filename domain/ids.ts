// Time-ordered ids in one format wherever they are made (the API with random bytes, workflows
// with their deterministic uuid4): `<prefix>_<ms in base36, 9 chars><random>`.
export function timeOrderedId(prefix: string, nowMs: number, random: string): string {
  return `${prefix}_${nowMs.toString(36).padStart(9, '0')}${random}`;
}
