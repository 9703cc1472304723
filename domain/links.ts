// Links that Tocsin stores for a recipient to follow (the in-app item's `url`).

/** A rendered URL worth linking to: an absolute http(s) URL (at most 2048 characters), else null; never `javascript:` or `data:`. */
export function inboxLink(url: string | undefined | null): string | null {
  if (!url) return null;
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  return parsed.href.length <= 2048 ? parsed.href : null;
}
