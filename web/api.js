// Talking to `tektra serve`: GET /props and streamed chat completions
// (server-sent events read with fetch and a ReadableStream, so a Stop is an
// AbortController: the server cancels the generation when we hang up).

const KEY_STORE = 'tektra.apiKey';

// A failure with what the page needs to explain it.
export class ApiError extends Error {
    // kind: 'http' (status and code from the server's error), 'network'
    // (no answer or the connection dropped) or 'stream' (an error event
    // in the middle of an answer).
    constructor(kind, message, status = 0, code = null) {
        super(message);
        this.name = 'ApiError';
        this.kind = kind;
        this.status = status;
        this.code = code;
    }
}

// The API key (--api-key) is kept for this tab only.
export function apiKey() {
    try {
        return sessionStorage.getItem(KEY_STORE) || '';
    } catch {
        return '';
    }
}

export function setApiKey(key) {
    try {
        if (key) sessionStorage.setItem(KEY_STORE, key);
        else sessionStorage.removeItem(KEY_STORE);
    } catch {
        // Private mode without storage: the key is asked for again.
    }
}

function headers() {
    const h = { 'Content-Type': 'application/json' };
    const key = apiKey();
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
}

async function errorFrom(res) {
    let message = `HTTP ${res.status}`;
    let code = null;
    try {
        const body = await res.json();
        if (body && body.error) {
            message = body.error.message || message;
            code = body.error.code || null;
        }
    } catch {
        // Not JSON: the status says enough.
    }
    return new ApiError('http', message, res.status, code);
}

function networkError(e) {
    if (e && e.name === 'AbortError') return e;
    return new ApiError(
        'network',
        'Cannot reach the tektra server. Is `tektra serve` still running?',
    );
}

export async function getProps() {
    let res;
    try {
        res = await fetch('/props', { headers: headers(), cache: 'no-store' });
    } catch (e) {
        throw networkError(e);
    }
    if (!res.ok) throw await errorFrom(res);
    return res.json();
}

// Streams a chat completion of `body` (an OpenAI request without `stream`).
// Yields { text } for each piece of the answer and finally { finish,
// timings }; throws ApiError, or the AbortError of `signal`.
export async function* streamChat(body, signal) {
    let res;
    try {
        res = await fetch('/v1/chat/completions', {
            method: 'POST',
            headers: headers(),
            body: JSON.stringify({ ...body, stream: true }),
            signal,
        });
    } catch (e) {
        throw networkError(e);
    }
    if (!res.ok) throw await errorFrom(res);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let finished = false;
    for (;;) {
        let chunk;
        try {
            chunk = await reader.read();
        } catch (e) {
            if (e && e.name === 'AbortError') throw e;
            throw new ApiError('network', 'The connection to the server was lost during the answer.');
        }
        if (chunk.done) break;
        buf += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
            const event = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const data = event
                .split('\n')
                .filter((l) => l.startsWith('data:'))
                .map((l) => l.slice(5).replace(/^ /, ''))
                .join('\n');
            if (!data) continue;
            if (data === '[DONE]') {
                finished = true;
                continue;
            }
            let obj;
            try {
                obj = JSON.parse(data);
            } catch {
                throw new ApiError('stream', 'The server sent something that is not JSON.');
            }
            if (obj.error) {
                throw new ApiError('stream', obj.error.message || 'unknown error', 0, obj.error.code);
            }
            const choice = obj.choices && obj.choices[0];
            const text = choice && choice.delta && choice.delta.content;
            if (text) yield { text };
            if (choice && choice.finish_reason) {
                yield { finish: choice.finish_reason, timings: obj.timings || null };
            }
        }
    }
    if (!finished) {
        throw new ApiError('network', 'The connection to the server closed before the answer ended.');
    }
}

// A title and a sentence for the user, from any error of this module.
export function describeError(e) {
    if (!(e instanceof ApiError)) {
        return { title: 'Something went wrong', detail: String((e && e.message) || e) };
    }
    if (e.kind === 'network') return { title: 'Server unreachable', detail: e.message };
    if (e.kind === 'stream') {
        return { title: 'The answer failed part-way', detail: e.message };
    }
    if (e.status === 400 && e.code === 'context_length_exceeded') {
        return {
            title: 'Too long for the context',
            detail:
                e.message +
                '. Start a new chat, or edit the last message to make it shorter (a larger ' +
                '--ctx-size on the server also helps).',
        };
    }
    if (e.status === 401) {
        return { title: 'API key needed', detail: 'The server refused the key. Enter it again, then press Regenerate.' };
    }
    if (e.status === 503 && e.code === 'model_loading') {
        return { title: 'Still loading', detail: 'The model is still loading. Press Regenerate in a moment.' };
    }
    if (e.status === 503) {
        return {
            title: 'Server busy',
            detail: e.message + ' (every slot is answering someone else: press Regenerate in a moment)',
        };
    }
    return { title: `Error ${e.status}`, detail: e.message };
}
