// Conversations, kept in this browser's localStorage so they survive a
// reload. Each conversation has its own system prompt and sampling settings.
//
// Shape (version 1):
//   { id, title, created, updated, system,
//     settings: { temperature, top_p, max_tokens, seed },   // null = server's
//     messages: [{ role: 'user' | 'assistant', content,
//                  timings?, finish?, stopped?, client?, error? }] }

const KEY = 'tektra.conversations.v1';
const CURRENT_KEY = 'tektra.current.v1';

export const SETTING_NAMES = ['temperature', 'top_p', 'max_tokens', 'seed'];

function newId() {
    const a = new Uint32Array(2);
    crypto.getRandomValues(a);
    return Date.now().toString(36) + '-' + a[0].toString(36) + a[1].toString(36);
}

export function newConversation() {
    const now = Date.now();
    return {
        id: newId(),
        title: '',
        created: now,
        updated: now,
        system: '',
        settings: { temperature: null, top_p: null, max_tokens: null, seed: null },
        messages: [],
    };
}

function num(v) {
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

// The server's timings the page shows (src/server/server.c put_timings).
const TIMING_NAMES = [
    'cache_n',
    'prompt_n',
    'prompt_ms',
    'predicted_n',
    'predicted_ms',
    'predicted_per_second',
    'ttft_ms',
];

// The numeric fields `names` of `obj`, or null when there are none.
function numbers(obj, names) {
    if (!obj || typeof obj !== 'object') return null;
    const out = {};
    let any = false;
    for (const name of names) {
        const v = num(obj[name]);
        if (v !== null) {
            out[name] = v;
            any = true;
        }
    }
    return any ? out : null;
}

// A stored conversation, checked field by field (the storage may hold
// anything: an older version, another page's data, a hand edit).
function clean(c) {
    if (!c || typeof c !== 'object' || typeof c.id !== 'string') return null;
    const out = newConversation();
    out.id = c.id;
    out.title = typeof c.title === 'string' ? c.title : '';
    out.created = num(c.created) ?? Date.now();
    out.updated = num(c.updated) ?? out.created;
    out.system = typeof c.system === 'string' ? c.system : '';
    const s = c.settings && typeof c.settings === 'object' ? c.settings : {};
    for (const name of SETTING_NAMES) out.settings[name] = num(s[name]);
    out.messages = (Array.isArray(c.messages) ? c.messages : [])
        .filter((m) => m && (m.role === 'user' || m.role === 'assistant'))
        .map((m) => {
            const msg = { role: m.role, content: typeof m.content === 'string' ? m.content : '' };
            const timings = numbers(m.timings, TIMING_NAMES);
            if (timings) msg.timings = timings;
            if (typeof m.finish === 'string') msg.finish = m.finish;
            // An answer still coming when the page closed ends where it was.
            if (m.stopped === true || m.pending === true) msg.stopped = true;
            const client = numbers(m.client, ['pieces', 'ttft_ms', 'elapsed_ms']);
            if (client) msg.client = client;
            if (m.error && typeof m.error === 'object') {
                msg.error = { title: String(m.error.title || ''), detail: String(m.error.detail || '') };
            }
            return msg;
        });
    return out;
}

export function loadConversations() {
    let data;
    try {
        data = JSON.parse(localStorage.getItem(KEY) || '[]');
    } catch {
        return [];
    }
    return Array.isArray(data) ? data.map(clean).filter(Boolean) : [];
}

// Throws when the storage is full or unavailable (the caller says so).
export function saveConversations(list) {
    localStorage.setItem(KEY, JSON.stringify(list));
}

export function loadCurrentId() {
    return localStorage.getItem(CURRENT_KEY) || '';
}

export function saveCurrentId(id) {
    try {
        localStorage.setItem(CURRENT_KEY, id);
    } catch {
        // Only the selection is lost.
    }
}

// A title from the first words of a message.
export function titleFrom(text) {
    const t = text.replace(/\s+/g, ' ').trim();
    return t.length > 48 ? t.slice(0, 47) + '\u2026' : t || 'New chat';
}
