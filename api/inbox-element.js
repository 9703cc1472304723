// <tocsin-inbox api="https://tocsin.example" token="…">: Tocsin's embeddable in-app inbox, served
// as GET /inbox.js. Plain JavaScript, no dependencies: a custom element with a shadow DOM, a bell
// with the unread count, a list that opens below it (title, body, time, unread mark), read marks,
// "mark all read", archive, and new items live over the SSE stream of /v1/me/inbox/stream.
//
// It speaks /v1/me/* with a recipient token (POST /v1/recipients/{rid}/token): the page's origin
// must be in the API's CORS_ORIGINS. No cookies are sent. Themable through CSS custom properties
// (`--tocsin-*`, below) and ::part(bell|badge|panel|item|…). Events on the element:
// `tocsin:notification` (detail: the new item), `tocsin:error` (detail: { status, message }).
(() => {
  'use strict';
  if (typeof customElements === 'undefined' || customElements.get('tocsin-inbox')) return;

  const PAGE = 20;
  /** Reconnect delays (ms) after the stream is refused or lost for good; EventSource retries brief drops itself. */
  const BACKOFF = [1000, 2000, 5000, 10000, 30000];

  const STYLE = `
    :host {
      --_font: var(--tocsin-font, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
      --_text: var(--tocsin-color, #1f2328);
      --_muted: var(--tocsin-muted, #656d76);
      --_bg: var(--tocsin-background, #ffffff);
      --_border: var(--tocsin-border, #d0d7de);
      --_accent: var(--tocsin-accent, #d1242f);
      --_accent-text: var(--tocsin-accent-text, #ffffff);
      --_unread-bg: var(--tocsin-unread-background, #f0f6ff);
      --_hover: var(--tocsin-hover, #f6f8fa);
      --_focus: var(--tocsin-focus, #0969da);
      --_radius: var(--tocsin-radius, 8px);
      position: relative;
      display: inline-block;
      font-family: var(--_font);
      font-size: var(--tocsin-font-size, 14px);
      color: var(--_text);
    }
    button { font: inherit; color: inherit; cursor: pointer; }
    button:focus-visible { outline: 2px solid var(--_focus); outline-offset: 2px; }
    .bell {
      position: relative; display: inline-flex; align-items: center; justify-content: center;
      width: var(--tocsin-bell-size, 40px); height: var(--tocsin-bell-size, 40px);
      border: 1px solid transparent; border-radius: 50%; background: transparent; color: var(--tocsin-bell-color, var(--_text));
    }
    .bell:hover { background: var(--_hover); }
    .bell svg { width: 60%; height: 60%; }
    .badge {
      position: absolute; top: 0; right: 0; min-width: 18px; height: 18px; padding: 0 5px; box-sizing: border-box;
      border-radius: 9px; background: var(--_accent); color: var(--_accent-text);
      font-size: 11px; font-weight: 600; line-height: 18px; text-align: center;
    }
    .badge[hidden] { display: none; }
    .panel {
      position: absolute; z-index: var(--tocsin-z-index, 1000); top: calc(100% + 6px); right: 0;
      width: var(--tocsin-width, 360px); max-width: 90vw; max-height: var(--tocsin-max-height, 480px);
      display: flex; flex-direction: column; box-sizing: border-box;
      background: var(--_bg); border: 1px solid var(--_border); border-radius: var(--_radius);
      box-shadow: var(--tocsin-shadow, 0 8px 24px rgba(140, 149, 159, 0.3));
    }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 10px 12px; border-bottom: 1px solid var(--_border); }
    h2 { margin: 0; font-size: 1em; font-weight: 600; }
    .link { border: 0; background: none; padding: 2px 4px; color: var(--_focus); border-radius: 4px; }
    .link:disabled { color: var(--_muted); cursor: default; }
    ul { list-style: none; margin: 0; padding: 0; overflow-y: auto; }
    li { display: flex; align-items: flex-start; border-bottom: 1px solid var(--_border); }
    li:last-child { border-bottom: 0; }
    li.unread { background: var(--_unread-bg); }
    .item {
      flex: 1; display: grid; grid-template-columns: 10px 1fr; gap: 2px 8px; align-items: baseline;
      padding: 10px 4px 10px 12px; border: 0; background: none; text-align: left; min-width: 0;
    }
    .item:hover { background: var(--_hover); }
    .dot { grid-row: 1; width: 8px; height: 8px; border-radius: 50%; background: transparent; align-self: center; }
    li.unread .dot { background: var(--_accent); }
    .title { grid-column: 2; font-weight: 600; overflow-wrap: anywhere; }
    li:not(.unread) .title { font-weight: 500; }
    .body { grid-column: 2; color: var(--_text); overflow-wrap: anywhere; white-space: pre-line; }
    time { grid-column: 2; color: var(--_muted); font-size: 0.85em; }
    .archive { flex: none; margin: 8px 8px 0 0; width: 28px; height: 28px; border: 0; border-radius: 4px; background: none; color: var(--_muted); }
    .archive:hover { background: var(--_hover); color: var(--_text); }
    .archive svg { width: 16px; height: 16px; }
    .empty, .error { padding: 24px 12px; text-align: center; color: var(--_muted); }
    .more { margin: 8px auto; display: block; }
    .sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
  `;

  const BELL =
    '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.73 21a2 2 0 0 1-3.46 0"/></svg>';
  const ARCHIVE =
    '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><rect x="2" y="4" width="20" height="5" rx="1"/><path d="M4 9v9a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V9"/><path d="M10 13h4"/></svg>';

  let instances = 0;

  class TocsinInbox extends HTMLElement {
    static get observedAttributes() {
      return ['api', 'token'];
    }

    constructor() {
      super();
      const id = `tocsin-inbox-${++instances}`;
      this._items = [];
      this._loaded = false;
      this._cursor = null;
      this._unread = 0;
      this._source = null;
      this._retry = 0;
      this._timer = null;
      const root = this.attachShadow({ mode: 'open' });
      root.innerHTML = `
        <style>${STYLE}</style>
        <button class="bell" part="bell" type="button" aria-haspopup="true" aria-expanded="false" aria-controls="${id}-panel">
          ${BELL}<span class="badge" part="badge" hidden aria-hidden="true"></span><span class="sr label">Notifications</span>
        </button>
        <span class="sr status" role="status" aria-live="polite" aria-atomic="true"></span>
        <section class="panel" part="panel" id="${id}-panel" hidden aria-labelledby="${id}-heading" tabindex="-1">
          <header part="header">
            <h2 id="${id}-heading">Notifications</h2>
            <button class="link read-all" part="read-all" type="button">Mark all read</button>
          </header>
          <ul part="list" aria-labelledby="${id}-heading"></ul>
          <p class="empty" part="empty" hidden>No notifications</p>
          <p class="error" part="error" hidden></p>
          <button class="link more" part="more" type="button" hidden>Show older</button>
        </section>`;
      this._bell = root.querySelector('.bell');
      this._badge = root.querySelector('.badge');
      this._label = root.querySelector('.label');
      this._status = root.querySelector('.status');
      this._panel = root.querySelector('.panel');
      this._list = root.querySelector('ul');
      this._empty = root.querySelector('.empty');
      this._error = root.querySelector('.error');
      this._more = root.querySelector('.more');
      this._readAll = root.querySelector('.read-all');

      this._bell.addEventListener('click', () => (this.open ? this.close() : this.show()));
      this._readAll.addEventListener('click', () => this.markAllRead());
      this._more.addEventListener('click', () => this._load(false));
      // Escape closes, from the bell or anywhere in the panel, and gives focus back to the bell.
      root.addEventListener('keydown', (e) => {
        if (e.key === 'Escape' && this.open) {
          e.stopPropagation();
          this.close();
          this._bell.focus();
        }
      });
      // A click outside the element closes the list.
      this._outside = (e) => {
        if (this.open && !e.composedPath().includes(this)) this.close();
      };
    }

    get api() {
      return (this.getAttribute('api') || '').replace(/\/+$/, '');
    }
    get token() {
      return this.getAttribute('token') || '';
    }
    get open() {
      return !this._panel.hidden;
    }
    /** The unread count the bell shows. */
    get unread() {
      return this._unread;
    }

    connectedCallback() {
      document.addEventListener('click', this._outside, true);
      this._restart();
    }
    disconnectedCallback() {
      document.removeEventListener('click', this._outside, true);
      this._stop();
    }
    attributeChangedCallback(_name, before, after) {
      // A new token (a refreshed one, say) or API: start over with it.
      if (before !== after && this.isConnected) this._restart();
    }

    /** One start for the changes of one task (an upgrade sets both attributes, then connects). */
    _restart() {
      if (this._starting) return;
      this._starting = true;
      queueMicrotask(() => {
        this._starting = false;
        if (this.isConnected) this._start();
      });
    }

    /** Opens the list (loading it the first time) and moves focus into it. */
    async show() {
      this._panel.hidden = false;
      this._bell.setAttribute('aria-expanded', 'true');
      // Loaded the first time; afterwards drawn again, so that the times ("2 minutes ago") are current.
      if (!this._loaded) await this._load(true);
      else this._render();
      const first = this._list.querySelector('.item') || this._panel;
      first.focus();
    }
    close() {
      this._panel.hidden = true;
      this._bell.setAttribute('aria-expanded', 'false');
    }

    async markAllRead() {
      const res = await this._call('POST', '/v1/me/inbox/read-all');
      if (!res) return;
      for (const m of this._items) m.read = true;
      this._render();
      this._setUnread(0);
    }

    // --- the API -----------------------------------------------------------------------------

    /** A JSON call to /v1/me with the token; null (and a `tocsin:error` event) when it fails. */
    async _call(method, path) {
      if (!this.api || !this.token) return null;
      let res;
      try {
        res = await fetch(this.api + path, { method, headers: { authorization: `Bearer ${this.token}` }, credentials: 'omit', mode: 'cors' });
      } catch (err) {
        this._fail(0, 'The notification service cannot be reached');
        return null;
      }
      if (!res.ok) {
        this._fail(res.status, res.status === 401 ? 'The session has expired; reload the page' : `The notification service answered ${res.status}`);
        return null;
      }
      this._error.hidden = true;
      return res.status === 204 ? {} : res.json();
    }

    _fail(status, message) {
      this._error.textContent = message;
      this._error.hidden = false;
      this.dispatchEvent(new CustomEvent('tocsin:error', { detail: { status, message }, bubbles: true, composed: true }));
    }

    async _refreshCount() {
      const counts = await this._call('GET', '/v1/me/inbox/count');
      if (counts) this._setUnread(counts.unread);
    }

    /** The first page (`fresh`) or the next one. */
    async _load(fresh) {
      const query = `?limit=${PAGE}${!fresh && this._cursor ? `&cursor=${encodeURIComponent(this._cursor)}` : ''}`;
      const page = await this._call('GET', `/v1/me/inbox${query}`);
      if (!page) return;
      const known = new Set(fresh ? [] : this._items.map((m) => m.id));
      this._items = (fresh ? [] : this._items).concat(page.data.filter((m) => !known.has(m.id)));
      if (fresh) {
        // Items that arrived over the stream while the page was on its way.
        for (const m of this._pending || []) if (!this._items.some((i) => i.id === m.id)) this._items.unshift(m);
        this._pending = [];
      }
      this._cursor = page.nextCursor;
      this._loaded = true;
      this._setUnread(page.unread);
      this._render();
    }

    async _read(item) {
      if (!item.read) {
        item.read = true;
        this._render();
        this._setUnread(Math.max(0, this._unread - 1));
        const res = await this._call('POST', `/v1/me/inbox/${encodeURIComponent(item.id)}/read`);
        if (!res) {
          item.read = false;
          this._render();
        }
        await this._refreshCount();
      }
      if (item.url) window.open(item.url, '_blank', 'noopener');
    }

    async _archive(item, row) {
      // Focus moves on to the next item (or the panel), so a keyboard user is not dropped.
      const next = row.nextElementSibling || row.previousElementSibling;
      const res = await this._call('POST', `/v1/me/inbox/${encodeURIComponent(item.id)}/archive`);
      if (!res) return;
      this._items = this._items.filter((m) => m.id !== item.id);
      this._render();
      ((next && this._list.querySelector(`[data-id="${CSS.escape(next.dataset.id)}"] .item`)) || this._panel).focus();
      await this._refreshCount();
    }

    // --- the stream --------------------------------------------------------------------------

    _start() {
      this._stop();
      this._loaded = false;
      this._items = [];
      this._pending = [];
      if (this._panel && !this._panel.hidden) this._load(true);
      if (!this.api || !this.token) return;
      this._refreshCount();
      this._connect();
    }

    _stop() {
      if (this._source) this._source.close();
      this._source = null;
      clearTimeout(this._timer);
    }

    /** EventSource sends Last-Event-ID itself when it reconnects, so nothing is missed in between. */
    _connect() {
      const source = new EventSource(`${this.api}/v1/me/inbox/stream?token=${encodeURIComponent(this.token)}`);
      this._source = source;
      source.addEventListener('ready', () => {
        this._retry = 0;
      });
      source.addEventListener('message', (e) => {
        let item;
        try {
          item = JSON.parse(e.data);
        } catch {
          return;
        }
        this._add(item);
      });
      source.addEventListener('error', () => {
        // Closed for good (a refused token, a 429, the server away at connect): try again later,
        // catching up on what came in between by reloading.
        if (source.readyState !== EventSource.CLOSED || this._source !== source) return;
        const delay = BACKOFF[Math.min(this._retry++, BACKOFF.length - 1)];
        this._timer = setTimeout(() => {
          if (this._source !== source) return;
          this._refreshCount();
          if (this._loaded) this._load(true);
          this._connect();
        }, delay);
      });
    }

    _add(item) {
      if (this._items.some((m) => m.id === item.id)) return;
      if (this._loaded) {
        this._items.unshift(item);
        this._render();
      } else {
        this._pending.push(item);
      }
      if (!item.read) this._setUnread(this._unread + 1);
      this.dispatchEvent(new CustomEvent('tocsin:notification', { detail: item, bubbles: true, composed: true }));
    }

    // --- rendering ---------------------------------------------------------------------------

    _setUnread(n) {
      this._unread = n;
      this._badge.textContent = n > 99 ? '99+' : String(n);
      this._badge.hidden = n === 0;
      const words = n === 0 ? 'No unread notifications' : `${n} unread notification${n === 1 ? '' : 's'}`;
      this._label.textContent = `Notifications, ${words.toLowerCase()}`;
      this._bell.setAttribute('data-unread', String(n));
      if (this._status.textContent !== words) this._status.textContent = words;
      this._readAll.disabled = n === 0;
    }

    /** The list from this._items; text only (textContent), never markup from a message. */
    _render() {
      const focused = this.shadowRoot.activeElement;
      const focusId = focused && focused.closest('li') ? focused.closest('li').dataset.id : null;
      const focusClass = focused && focused.classList.contains('archive') ? '.archive' : '.item';
      this._list.replaceChildren(...this._items.map((m) => this._row(m)));
      this._empty.hidden = !this._loaded || this._items.length > 0;
      this._more.hidden = !this._cursor;
      if (focusId) {
        const again = this._list.querySelector(`[data-id="${CSS.escape(focusId)}"] ${focusClass}`);
        if (again) again.focus();
      }
    }

    _row(m) {
      const li = document.createElement('li');
      li.dataset.id = m.id;
      li.className = m.read ? 'read' : 'unread';
      li.setAttribute('part', m.read ? 'item' : 'item unread');

      const item = document.createElement('button');
      item.type = 'button';
      item.className = 'item';
      const dot = document.createElement('span');
      dot.className = 'dot';
      dot.setAttribute('part', 'unread-mark');
      dot.setAttribute('aria-hidden', 'true');
      const state = document.createElement('span');
      state.className = 'sr';
      state.textContent = m.read ? '' : 'Unread: ';
      const title = document.createElement('span');
      title.className = 'title';
      title.setAttribute('part', 'title');
      title.append(state, m.title || '');
      const body = document.createElement('span');
      body.className = 'body';
      body.setAttribute('part', 'body');
      body.textContent = m.body || '';
      const time = document.createElement('time');
      time.setAttribute('part', 'time');
      time.dateTime = m.createdAt;
      time.title = new Date(m.createdAt).toLocaleString();
      time.textContent = ago(m.createdAt);
      item.append(dot, title, body, time);
      item.addEventListener('click', () => this._read(m));

      const archive = document.createElement('button');
      archive.type = 'button';
      archive.className = 'archive';
      archive.setAttribute('part', 'archive');
      archive.setAttribute('aria-label', `Archive: ${m.title || 'notification'}`);
      archive.title = 'Archive';
      archive.innerHTML = ARCHIVE;
      archive.addEventListener('click', () => this._archive(m, li));

      li.append(item, archive);
      return li;
    }
  }

  /** "3 minutes ago", in the page's language. */
  function ago(iso) {
    const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
    const units = [
      ['year', 31536000],
      ['month', 2592000],
      ['week', 604800],
      ['day', 86400],
      ['hour', 3600],
      ['minute', 60],
    ];
    for (const [unit, size] of units) if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
    return rtf.format(0, 'second');
  }

  customElements.define('tocsin-inbox', TocsinInbox);
})();
