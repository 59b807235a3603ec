// The chat page: conversations on the left, the current one in the middle,
// answers streamed in from the server. All text from the model or the user
// goes into the page as text nodes (md.js), never as HTML.

import { ApiError, apiKey, describeError, getProps, setApiKey, streamChat } from './api.js';
import { copyText, renderAnswer } from './md.js';
import {
    SETTING_NAMES,
    loadConversations,
    loadCurrentId,
    newConversation,
    saveConversations,
    saveCurrentId,
    titleFrom,
} from './store.js';

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
}

function button(text, className, onClick, label) {
    const b = el('button', className, text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
}

const state = {
    conversations: loadConversations(),
    currentId: loadCurrentId(),
    props: null,
    // The answer being streamed: { conv, msg, controller, node, t0, firstAt, pieces }.
    streaming: null,
};

// ---- storage -------------------------------------------------------------------

function current() {
    return state.conversations.find((c) => c.id === state.currentId) || null;
}

function persist() {
    try {
        saveConversations(state.conversations);
        if (banner.dataset.kind === 'storage') showBanner(null);
    } catch {
        showBanner(
            'This browser would not save the conversations (storage full or disabled); they last until the page closes.',
            'storage',
        );
    }
}

// ---- the banner: problems with the server or the browser --------------------------

const banner = $('banner');

function showBanner(text, kind = '') {
    banner.hidden = !text;
    banner.textContent = text || '';
    banner.dataset.kind = text ? kind : '';
}

// ---- header: what the server runs --------------------------------------------------

function formatCtx(n) {
    return n >= 1024 && n % 1024 === 0 ? `${n / 1024}K` : String(n);
}

function showProps(p) {
    if (!p.has_model) {
        $('model-info').textContent = 'no model loaded: answers explain how to get one';
        return;
    }
    const parts = [p.model, p.backend.toUpperCase()];
    if (p.kernel_level) parts.push(p.kernel_level);
    parts.push(`${formatCtx(p.n_ctx)} context`);
    if (p.n_parallel > 1) parts.push(`${p.n_parallel} slots`);
    const info = $('model-info');
    info.textContent = parts.join(' \u00b7 ');
    info.title = `${p.backend_display_name || ''} \u2014 tektra ${p.version || ''}`.trim();
}

let propsTimer = 0;

async function loadProps() {
    clearTimeout(propsTimer);
    try {
        const first = !state.props;
        state.props = await getProps();
        showProps(state.props);
        if (first && !state.streaming) renderMessages(); // the stats name n_ctx
        if (banner.dataset.kind === 'server') showBanner(null);
    } catch (e) {
        const info = $('model-info');
        if (e instanceof ApiError && e.status === 401) {
            info.textContent = 'API key needed';
            askKey(!!apiKey());
            return;
        }
        if (e instanceof ApiError && e.status === 503 && e.code === 'model_loading') {
            info.textContent = 'loading the model\u2026';
            propsTimer = setTimeout(loadProps, 1000);
            return;
        }
        info.textContent = 'not connected';
        showBanner(describeError(e).detail + ' Retrying\u2026', 'server');
        propsTimer = setTimeout(loadProps, 3000);
    }
}

// ---- API key -------------------------------------------------------------------

const keyDialog = $('key-dialog');

function askKey(refused) {
    if (keyDialog.open) return;
    $('key-error').hidden = !refused;
    $('key-error').textContent = refused ? 'That key was refused.' : '';
    $('key-input').value = '';
    keyDialog.showModal();
}

$('key-form').addEventListener('submit', () => {
    setApiKey($('key-input').value.trim());
    $('settings-forget-key').hidden = !apiKey();
    loadProps();
});

// ---- the conversation list ------------------------------------------------------

function renderList() {
    const list = $('conv-list');
    list.replaceChildren();
    const sorted = [...state.conversations].sort((a, b) => b.updated - a.updated);
    for (const conv of sorted) {
        const li = el('li', 'conv' + (conv.id === state.currentId ? ' active' : ''));
        li.dataset.id = conv.id;
        const open = button(conv.title || 'New chat', 'conv-open', () => select(conv.id));
        if (conv.id === state.currentId) open.setAttribute('aria-current', 'true');
        const rename = button('\u270e', 'icon conv-rename', () => startRename(li, conv), 'Rename');
        const del = button('\u2715', 'icon conv-delete', () => confirmDelete(del, conv), 'Delete');
        li.append(open, rename, del);
        list.append(li);
    }
}

function startRename(li, conv) {
    const input = el('input', 'conv-title-input');
    input.value = conv.title || '';
    input.setAttribute('aria-label', 'Conversation name');
    let done = false;
    const finish = (save) => {
        if (done) return;
        done = true;
        const name = input.value.trim();
        if (save && name) {
            conv.title = name;
            persist();
        }
        renderList();
        renderHeader();
    };
    input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') {
            e.preventDefault();
            finish(true);
        } else if (e.key === 'Escape') {
            finish(false);
        }
    });
    input.addEventListener('blur', () => finish(true));
    li.replaceChildren(input);
    input.focus();
    input.select();
}

// Deleting asks once more on the same button, for a few seconds.
function confirmDelete(btn, conv) {
    if (btn.dataset.confirm !== 'yes') {
        btn.dataset.confirm = 'yes';
        btn.textContent = 'Delete?';
        btn.classList.add('confirm');
        setTimeout(() => {
            if (!btn.isConnected) return;
            btn.dataset.confirm = '';
            btn.textContent = '\u2715';
            btn.classList.remove('confirm');
        }, 4000);
        return;
    }
    if (state.streaming && state.streaming.conv === conv) state.streaming.controller.abort();
    state.conversations = state.conversations.filter((c) => c !== conv);
    if (state.currentId === conv.id) {
        const next = [...state.conversations].sort((a, b) => b.updated - a.updated)[0];
        state.currentId = next ? next.id : '';
        saveCurrentId(state.currentId);
    }
    persist();
    renderAll();
}

function select(id) {
    state.currentId = id;
    saveCurrentId(id);
    closeSidebar();
    renderAll();
    $('input').focus();
}

function startNewChat() {
    const conv = current();
    // An empty conversation is reused rather than piled up.
    if (conv && conv.messages.length === 0) {
        closeSidebar();
        $('input').focus();
        return;
    }
    const fresh = newConversation();
    state.conversations.push(fresh);
    persist();
    select(fresh.id);
}

// ---- messages ------------------------------------------------------------------

const messagesEl = $('messages');
const emptyNode = $('empty');

function nearBottom() {
    return messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight < 80;
}

function scrollToBottom() {
    messagesEl.scrollTop = messagesEl.scrollHeight;
}

function formatMs(ms) {
    return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

// One line about an answer: tokens, speed, time to first token.
function statsText(msg) {
    const parts = [];
    const t = msg.timings;
    const n = (v) => typeof v === 'number' && Number.isFinite(v);
    if (t && n(t.predicted_n)) {
        parts.push(`${t.predicted_n} tokens`);
        if (n(t.predicted_per_second) && t.predicted_per_second > 0) {
            parts.push(`${t.predicted_per_second.toFixed(1)} tokens/s`);
        }
        if (n(t.ttft_ms)) parts.push(`first token ${formatMs(t.ttft_ms)}`);
        if (n(t.prompt_n) && t.prompt_n > 0 && n(t.prompt_ms)) {
            parts.push(`prompt ${t.prompt_n} tokens in ${formatMs(t.prompt_ms)}`);
        }
        // How full the context is after this answer: what the next message
        // builds on.
        if (n(t.prompt_n) && state.props && state.props.n_ctx > 0) {
            const used = (n(t.cache_n) ? t.cache_n : 0) + t.prompt_n + t.predicted_n;
            parts.push(`context ${used} of ${state.props.n_ctx}`);
        }
    } else if (msg.client && msg.client.pieces) {
        // Stopped: the server sent no timings; these are the page's counts.
        const c = msg.client;
        parts.push(`~${c.pieces} tokens`);
        if (c.elapsed_ms > 0 && c.pieces > 1) {
            parts.push(`~${((c.pieces * 1000) / c.elapsed_ms).toFixed(1)} tokens/s`);
        }
        if (c.ttft_ms >= 0) parts.push(`first token ${formatMs(c.ttft_ms)}`);
    }
    if (msg.finish === 'length') parts.push('cut off: max tokens or context reached');
    if (msg.stopped) parts.push('stopped');
    return parts.join(' \u00b7 ');
}

function lastIndexOf(conv, role) {
    for (let i = conv.messages.length - 1; i >= 0; i--) if (conv.messages[i].role === role) return i;
    return -1;
}

function fillAnswer(node, msg) {
    const content = node.querySelector('.content');
    const open = !!content.querySelector('details.think[open]');
    content.replaceChildren(renderAnswer(msg.content, document, open));
    node.classList.toggle('pending', !!msg.pending);
    // Screen readers announce the answer once it is complete.
    node.setAttribute('aria-busy', msg.pending ? 'true' : 'false');
    node.querySelector('.stats').textContent = msg.pending ? '' : statsText(msg);
    const err = node.querySelector('.msg-error');
    err.replaceChildren();
    err.hidden = !msg.error;
    if (msg.error) err.append(el('strong', '', msg.error.title + '. '), el('span', '', msg.error.detail));
}

function messageNode(conv, msg, index) {
    const node = el('article', `msg ${msg.role}`);
    node.dataset.index = String(index);
    const bubble = el('div', 'bubble');
    const content = el('div', 'content');
    bubble.append(content);
    node.append(bubble);
    const meta = el('div', 'meta');
    const stats = el('span', 'stats');
    const actions = el('span', 'actions');
    meta.append(stats, actions);
    const error = el('div', 'msg-error');
    error.setAttribute('role', 'alert');
    node.append(error, meta);
    const busy = state.streaming !== null;
    if (msg.role === 'user') {
        content.textContent = msg.content;
        error.hidden = true;
        if (index === lastIndexOf(conv, 'user') && !busy) {
            actions.append(button('Edit', 'link edit', () => editLast(node, conv, index)));
        }
    } else {
        fillAnswer(node, msg);
        if (index === conv.messages.length - 1 && !msg.pending && !busy) {
            actions.append(button('Regenerate', 'link regenerate', () => regenerate(conv)));
        }
        if (msg.content && !msg.pending) {
            actions.append(
                button('Copy', 'link copy-answer', (e) => copyText(msg.content, e.currentTarget)),
            );
        }
    }
    return node;
}

function renderHeader() {
    const conv = current();
    $('conv-title').textContent = conv && conv.title ? conv.title : 'New chat';
    document.title = conv && conv.title ? `${conv.title} \u2013 tektra` : 'tektra';
}

function renderMessages() {
    const conv = current();
    const nodes = [];
    if (!conv || conv.messages.length === 0) {
        nodes.push(emptyNode);
    } else {
        conv.messages.forEach((m, i) => nodes.push(messageNode(conv, m, i)));
    }
    messagesEl.replaceChildren(...nodes);
    if (state.streaming && state.streaming.conv === conv) {
        state.streaming.node = messagesEl.querySelector(`.msg[data-index="${conv.messages.length - 1}"]`);
    }
    scrollToBottom();
}

function renderAll() {
    if (!current()) {
        const fresh = newConversation();
        state.conversations.push(fresh);
        state.currentId = fresh.id;
        saveCurrentId(fresh.id);
    }
    renderList();
    renderHeader();
    renderMessages();
}

// ---- sending and streaming ---------------------------------------------------------

function requestBody(conv) {
    const messages = [];
    if (conv.system.trim()) messages.push({ role: 'system', content: conv.system });
    for (const m of conv.messages) {
        if (m.pending) continue;
        if (m.role === 'assistant' && !m.content) continue; // a failed answer
        messages.push({ role: m.role, content: m.content });
    }
    const body = { messages };
    for (const name of SETTING_NAMES) {
        if (conv.settings[name] !== null) body[name] = conv.settings[name];
    }
    return body;
}

function setStreaming(on) {
    const stopHadFocus = document.activeElement === $('stop');
    $('send').hidden = on;
    $('stop').hidden = !on;
    document.body.classList.toggle('streaming', on);
    if (!on) $('hint').hidden = true;
    if (stopHadFocus) $('input').focus();
}

let renderQueued = false;
let savedAt = 0;
let renderCost = 0; // ms the last rendering of the streaming answer took

// Shows the streaming answer at the next frame, and saves it now and then,
// so a reload mid-answer keeps what had come. The whole answer is rendered
// each time; when that gets slow (a very long answer), it is done less
// often, so the page stays responsive.
function queueRender() {
    if (renderQueued) return;
    renderQueued = true;
    const frame = () =>
        requestAnimationFrame(() => {
            renderQueued = false;
            const s = state.streaming;
            if (!s) return;
            if (performance.now() - savedAt > 1000) {
                savedAt = performance.now();
                persist();
            }
            if (!s.node || !s.node.isConnected) return;
            const stick = nearBottom();
            const t0 = performance.now();
            fillAnswer(s.node, s.msg);
            renderCost = performance.now() - t0;
            if (stick) scrollToBottom();
        });
    if (renderCost > 8) setTimeout(frame, Math.min(renderCost * 4, 1000));
    else frame();
}

async function generate(conv) {
    const body = requestBody(conv);
    const msg = { role: 'assistant', content: '', pending: true };
    conv.messages.push(msg);
    conv.updated = Date.now();
    const s = {
        conv,
        msg,
        controller: new AbortController(),
        node: null,
        t0: performance.now(),
        firstAt: -1,
        pieces: 0,
    };
    state.streaming = s;
    setStreaming(true);
    persist();
    renderList();
    renderMessages();
    try {
        for await (const ev of streamChat(body, s.controller.signal)) {
            if (ev.text) {
                if (s.firstAt < 0) s.firstAt = performance.now();
                s.pieces++;
                msg.content += ev.text;
                queueRender();
            } else if (ev.finish) {
                msg.finish = String(ev.finish);
                if (ev.timings && typeof ev.timings === 'object') msg.timings = ev.timings;
            }
        }
    } catch (e) {
        if (e && e.name === 'AbortError') {
            msg.stopped = true;
        } else {
            msg.error = describeError(e);
            if (e instanceof ApiError && e.status === 401) askKey(!!apiKey());
            if (e instanceof ApiError && e.kind === 'network') loadProps();
        }
    }
    if (!msg.timings && s.pieces > 0) {
        msg.client = {
            pieces: s.pieces,
            ttft_ms: s.firstAt >= 0 ? s.firstAt - s.t0 : -1,
            elapsed_ms: performance.now() - (s.firstAt >= 0 ? s.firstAt : s.t0),
        };
    }
    delete msg.pending;
    state.streaming = null;
    renderCost = 0;
    conv.updated = Date.now();
    persist();
    setStreaming(false);
    if (conv === current()) renderMessages();
}

function send() {
    const input = $('input');
    const text = input.value;
    if (!text.trim()) return;
    if (state.streaming) {
        const hint = $('hint');
        hint.textContent = 'An answer is still coming: press Stop, or wait for it to end.';
        hint.hidden = false;
        return;
    }
    const conv = current();
    conv.messages.push({ role: 'user', content: text });
    if (!conv.title) conv.title = titleFrom(text);
    input.value = '';
    autoGrow();
    renderHeader();
    generate(conv);
}

function regenerate(conv) {
    if (state.streaming) return;
    const last = conv.messages[conv.messages.length - 1];
    if (last && last.role === 'assistant') conv.messages.pop();
    if (conv.messages.length === 0) return;
    generate(conv);
}

// The last user message, edited in place and sent again: everything after
// it is replaced by the new answer.
function editLast(node, conv, index) {
    if (state.streaming) return;
    const bubble = node.querySelector('.bubble');
    const area = el('textarea', 'edit-input');
    area.value = conv.messages[index].content;
    area.setAttribute('aria-label', 'Edit message');
    const save = button('Send', 'primary edit-send', () => {
        const text = area.value;
        if (!text.trim() || state.streaming) return;
        conv.messages = conv.messages.slice(0, index);
        conv.messages.push({ role: 'user', content: text });
        generate(conv);
    });
    const cancel = button('Cancel', 'ghost edit-cancel', () => renderMessages());
    area.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            save.click();
        } else if (e.key === 'Escape') {
            renderMessages();
        }
    });
    const row = el('div', 'edit-buttons');
    row.append(cancel, save);
    bubble.replaceChildren(area, row);
    node.querySelector('.actions').replaceChildren();
    area.focus();
}

// ---- the composer --------------------------------------------------------------

function autoGrow() {
    const input = $('input');
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, window.innerHeight * 0.4) + 'px';
}

$('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
});
$('input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send();
    } else if (e.key === 'Escape' && state.streaming) {
        state.streaming.controller.abort();
    }
});
$('input').addEventListener('input', autoGrow);
$('stop').addEventListener('click', () => {
    if (state.streaming) state.streaming.controller.abort();
});

// ---- settings ------------------------------------------------------------------

const settingsDialog = $('settings-dialog');
const settingInputs = {
    temperature: $('set-temperature'),
    top_p: $('set-top-p'),
    max_tokens: $('set-max-tokens'),
    seed: $('set-seed'),
};

$('open-settings').addEventListener('click', () => {
    const conv = current();
    $('set-system').value = conv.system;
    for (const name of SETTING_NAMES) {
        const v = conv.settings[name];
        settingInputs[name].value = v === null ? '' : String(v);
    }
    $('settings-forget-key').hidden = !apiKey();
    settingsDialog.showModal();
});

settingsDialog.addEventListener('close', () => {
    if (settingsDialog.returnValue !== 'save') return;
    const conv = current();
    conv.system = $('set-system').value;
    for (const name of SETTING_NAMES) {
        const input = settingInputs[name];
        const v = input.value.trim() === '' ? null : Number(input.value);
        conv.settings[name] = v !== null && Number.isFinite(v) ? v : null;
    }
    persist();
});

$('settings-forget-key').addEventListener('click', () => {
    setApiKey('');
    settingsDialog.close('cancel');
    loadProps();
});

// ---- the sidebar on narrow screens -----------------------------------------------

function closeSidebar() {
    document.body.classList.remove('sidebar-open');
    $('scrim').hidden = true;
    $('toggle-sidebar').setAttribute('aria-expanded', 'false');
}

$('toggle-sidebar').addEventListener('click', () => {
    const open = !document.body.classList.contains('sidebar-open');
    document.body.classList.toggle('sidebar-open', open);
    $('scrim').hidden = !open;
    $('toggle-sidebar').setAttribute('aria-expanded', String(open));
});
$('scrim').addEventListener('click', closeSidebar);
$('new-chat').addEventListener('click', startNewChat);

// Another tab changed the conversations: show them (unless we are streaming
// into one, when ours would overwrite theirs at the end anyway).
window.addEventListener('storage', (e) => {
    if (e.key && e.key.startsWith('tektra.conversations') && !state.streaming) {
        state.conversations = loadConversations();
        renderAll();
    }
});

renderAll();
loadProps();
$('input').focus();
