// A small Markdown renderer for model answers.
//
// It builds DOM nodes with createElement and text nodes only: model text is
// never parsed as HTML, so "<script>" or "<img onerror=...>" in an answer is
// shown as the characters it is. Links are kept only for http:, https: and
// mailto: addresses; anything else ("javascript:...") stays as plain text.
//
// Supported: paragraphs (a single newline is a line break), ATX headings,
// bullet and numbered lists (nested by indentation), block quotes,
// horizontal rules, fenced code blocks (``` or ~~~, with a Copy button),
// pipe tables with alignment, and inline **strong**, *emphasis*,
// ~~strike~~, `code`, [links](https://...), <https://...> and bare
// http(s) addresses. An unclosed code fence runs to the end, so an answer
// renders sensibly while it is still streaming in.

const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

// The href to use for `raw`, or null when it is not an absolute http,
// https or mailto address.
export function safeHref(raw) {
    const s = String(raw).trim();
    if (!/^(https?:\/\/|mailto:)/i.test(s)) return null;
    let url;
    try {
        url = new URL(s);
    } catch {
        return null;
    }
    return LINK_PROTOCOLS.has(url.protocol) ? url.href : null;
}

// Kept free of nested or overlapping quantifiers, so that no line, however
// long or odd, makes a match slow.
const FENCE_RE = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t](.*))?$/;
const HR_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE_RE = /^ {0,3}> ?(.*)$/;
const LIST_RE = /^( *)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
const TABLE_SEP_RE = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;

// The opening fence of a code block: its indent, fence and language; null
// when `line` is not one (a backtick fence's info text has no backtick).
function fenceOf(line) {
    const m = FENCE_RE.exec(line);
    if (!m || (m[2][0] === '`' && m[3].includes('`'))) return null;
    return { pad: m[1].length, fence: m[2], lang: m[3].trim().split(/\s/)[0] || '' };
}

// The text of an ATX heading without its closing #s.
function headingText(raw) {
    let t = (raw || '').trim();
    let k = t.length;
    while (k > 0 && t[k - 1] === '#') k--;
    if (k === 0 || t[k - 1] === ' ' || t[k - 1] === '\t') t = t.slice(0, k).trim();
    return t;
}

function isBlank(line) {
    return /^\s*$/.test(line);
}

function isTableStart(lines, i) {
    return (
        i + 1 < lines.length &&
        lines[i].includes('|') &&
        lines[i + 1].includes('-') &&
        TABLE_SEP_RE.test(lines[i + 1]) &&
        (lines[i + 1].includes('|') || splitRow(lines[i]).length === 1) &&
        splitRow(lines[i]).length === splitRow(lines[i + 1]).length
    );
}

// Whether `line` starts a block other than a paragraph (it then ends a
// paragraph).
function startsBlock(lines, i) {
    const line = lines[i];
    return (
        fenceOf(line) !== null ||
        HEADING_RE.test(line) ||
        HR_RE.test(line) ||
        QUOTE_RE.test(line) ||
        (LIST_RE.test(line) && LIST_RE.exec(line)[3] !== undefined) ||
        isTableStart(lines, i)
    );
}

// The cells of a table row: split at "|" outside code spans, "\|" kept.
function splitRow(line) {
    let s = line.trim();
    if (s.startsWith('|')) s = s.slice(1);
    if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
    const cells = [];
    let cur = '';
    let tick = 0;
    for (let i = 0; i < s.length; i++) {
        const c = s[i];
        if (c === '\\' && s[i + 1] === '|') {
            cur += '|';
            i++;
        } else if (c === '`') {
            let n = 1;
            while (s[i + n] === '`') n++;
            tick = tick === 0 ? n : tick === n ? 0 : tick;
            cur += s.slice(i, i + n);
            i += n - 1;
        } else if (c === '|' && tick === 0) {
            cells.push(cur.trim());
            cur = '';
        } else {
            cur += c;
        }
    }
    cells.push(cur.trim());
    return cells;
}

// Copies `text` to the clipboard and says so on `button` for a moment.
export function copyText(text, button) {
    const done = (ok) => {
        button.textContent = ok ? 'Copied' : 'Copy failed';
        setTimeout(() => {
            button.textContent = 'Copy';
        }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
            () => done(true),
            () => done(false),
        );
        return;
    }
    // Plain http from another machine: the older way.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    let ok = false;
    try {
        ok = document.execCommand('copy');
    } catch {
        ok = false;
    }
    area.remove();
    done(ok);
}

function codeBlock(code, lang, doc) {
    const wrap = doc.createElement('div');
    wrap.className = 'code-block';
    const head = doc.createElement('div');
    head.className = 'code-head';
    const label = doc.createElement('span');
    label.className = 'code-lang';
    label.textContent = lang || 'code';
    const button = doc.createElement('button');
    button.type = 'button';
    button.className = 'copy';
    button.textContent = 'Copy';
    button.addEventListener('click', () => copyText(code, button));
    head.append(label, button);
    const pre = doc.createElement('pre');
    const el = doc.createElement('code');
    if (lang) el.dataset.lang = lang;
    el.textContent = code;
    pre.append(el);
    wrap.append(head, pre);
    return wrap;
}

// ---- inline ----------------------------------------------------------------

const ESCAPABLE = '\\`*_{}[]()#+-.!|~<>';

// Model output can be long and degenerate ("**" ten thousand times), and an
// answer is rendered again as it streams, so every search below is linear:
// a failed search is remembered (nothing closes later either), bracket pairs
// are found in one pass, and nesting deeper than MAX_DEPTH is plain text.
const MAX_DEPTH = 16;

// The scanner state of one string.
function scanner(src) {
    return { src, noCode: new Map(), noClose: new Map(), brackets: null };
}

// The end of a code span of `n` backticks starting after index `from`, or -1.
function codeSpanEnd(sc, from, n) {
    const src = sc.src;
    if (from >= (sc.noCode.get(n) ?? Infinity)) return -1;
    for (let j = from; j < src.length; j++) {
        if (src[j] !== '`') continue;
        let k = j;
        while (src[k] === '`') k++;
        if (k - j === n) return j;
        j = k - 1;
    }
    sc.noCode.set(n, from);
    return -1;
}

// Where delimiter `d` closes emphasis opened at `from`, or -1. Code spans are
// skipped; a single "*" or "_" does not close on half of a double one.
function findClose(sc, from, d) {
    const src = sc.src;
    if (from >= (sc.noClose.get(d) ?? Infinity)) return -1;
    for (let j = from; j < src.length; j++) {
        const c = src[j];
        if (c === '\\') {
            j++;
            continue;
        }
        if (c === '`') {
            let n = 1;
            while (src[j + n] === '`') n++;
            const end = codeSpanEnd(sc, j + n, n);
            j = end >= 0 ? end + n - 1 : j + n - 1;
            continue;
        }
        if (!src.startsWith(d, j)) continue;
        if (d.length === 1 && (src[j + 1] === d || src[j - 1] === d)) continue;
        if (/\s/.test(src[j - 1] || ' ')) continue;
        if (d[0] === '_' && /[\p{L}\p{N}]/u.test(src[j + d.length] || '')) continue;
        return j;
    }
    sc.noClose.set(d, from);
    return -1;
}

// The "]" that closes the "[" at `i` (brackets nest), or -1.
function closingBracket(sc, i) {
    if (!sc.brackets) {
        const src = sc.src;
        sc.brackets = new Map();
        const open = [];
        for (let j = 0; j < src.length; j++) {
            if (src[j] === '\\') j++;
            else if (src[j] === '[') open.push(j);
            else if (src[j] === ']' && open.length) sc.brackets.set(open.pop(), j);
        }
    }
    return sc.brackets.get(i) ?? -1;
}

const EMPHASIS = [
    ['***', 'strong em'],
    ['**', 'strong'],
    ['__', 'strong'],
    ['~~', 'del'],
    ['*', 'em'],
    ['_', 'em'],
];

// Sticky: matched at lastIndex.
const LINK_TAIL_RE = /\(\s*<?([^\s<>()]*(?:\([^\s<>()]*\)[^\s<>()]*)*)>?(?:\s+"[^"]*")?\s*\)/y;
const AUTOLINK_RE = /<((?:https?:\/\/|mailto:)[^\s<>]+)>/iy;
const BARE_URL_RE = /https?:\/\/[^\s<>]*[^\s<>.,;:!?'")\]*_~]/iy;

function matchAt(re, src, i) {
    re.lastIndex = i;
    return re.exec(src);
}

function appendLink(parent, href, doc, fill) {
    const a = doc.createElement('a');
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    fill(a);
    parent.append(a);
}

// Renders inline Markdown of `src` into `parent`.
export function renderInline(src, parent, doc = document, depth = 0) {
    if (depth > MAX_DEPTH) {
        parent.append(doc.createTextNode(src));
        return;
    }
    const sc = scanner(src);
    let buf = '';
    const flush = () => {
        if (buf) parent.append(doc.createTextNode(buf));
        buf = '';
    };
    let i = 0;
    while (i < src.length) {
        const c = src[i];
        if (c === '\\' && i + 1 < src.length && ESCAPABLE.includes(src[i + 1])) {
            buf += src[i + 1];
            i += 2;
            continue;
        }
        if (c === '\n') {
            flush();
            parent.append(doc.createElement('br'));
            i++;
            continue;
        }
        if (c === '`') {
            let n = 1;
            while (src[i + n] === '`') n++;
            const end = codeSpanEnd(sc, i + n, n);
            if (end < 0) {
                buf += src.slice(i, i + n);
                i += n;
                continue;
            }
            let code = src.slice(i + n, end).replace(/\n/g, ' ');
            if (/^ .*[^ ].* $/.test(code)) code = code.slice(1, -1);
            flush();
            const el = doc.createElement('code');
            el.textContent = code;
            parent.append(el);
            i = end + n;
            continue;
        }
        if (c === '*' || c === '_' || c === '~') {
            let matched = false;
            for (const [d, tag] of EMPHASIS) {
                if (!src.startsWith(d, i)) continue;
                const open = i + d.length;
                if (open >= src.length || /\s/.test(src[open])) continue;
                if (d[0] === '_' && /[\p{L}\p{N}]/u.test(src[i - 1] || '')) continue;
                const close = findClose(sc, open, d);
                if (close <= open) continue;
                flush();
                const tags = tag.split(' ');
                const el = doc.createElement(tags[0]);
                let inner = el;
                if (tags[1]) inner = el.appendChild(doc.createElement(tags[1]));
                renderInline(src.slice(open, close), inner, doc, depth + 1);
                parent.append(el);
                i = close + d.length;
                matched = true;
                break;
            }
            if (matched) continue;
            buf += c;
            i++;
            continue;
        }
        if (c === '[') {
            const j = closingBracket(sc, i);
            const tail = j >= 0 ? matchAt(LINK_TAIL_RE, src, j + 1) : null;
            if (tail) {
                const href = safeHref(tail[1]);
                const text = src.slice(i + 1, j);
                const whole = src.slice(i, j + 1 + tail[0].length);
                if (href && text) {
                    flush();
                    appendLink(parent, href, doc, (a) => renderInline(text, a, doc, depth + 1));
                } else {
                    buf += whole; // not a link we follow: the characters as written
                }
                i += whole.length;
                continue;
            }
        }
        if (c === '<') {
            const m = matchAt(AUTOLINK_RE, src, i);
            const href = m && safeHref(m[1]);
            if (href) {
                flush();
                appendLink(parent, href, doc, (a) => {
                    a.textContent = m[1];
                });
                i += m[0].length;
                continue;
            }
        }
        if ((c === 'h' || c === 'H') && !/[\p{L}\p{N}]/u.test(src[i - 1] || '')) {
            const m = matchAt(BARE_URL_RE, src, i);
            const href = m && safeHref(m[0]);
            if (href) {
                flush();
                appendLink(parent, href, doc, (a) => {
                    a.textContent = m[0];
                });
                i += m[0].length;
                continue;
            }
        }
        buf += c;
        i++;
    }
    flush();
}

// ---- blocks ----------------------------------------------------------------

function renderTable(lines, i, parent, doc) {
    const head = splitRow(lines[i]);
    const align = splitRow(lines[i + 1]).map((cell) => {
        const l = cell.startsWith(':');
        const r = cell.endsWith(':');
        return l && r ? 'center' : r ? 'right' : l ? 'left' : '';
    });
    const wrap = doc.createElement('div');
    wrap.className = 'table-wrap';
    const table = doc.createElement('table');
    const thead = doc.createElement('thead');
    const tr = doc.createElement('tr');
    head.forEach((cell, k) => {
        const th = doc.createElement('th');
        if (align[k]) th.className = 'align-' + align[k];
        renderInline(cell, th, doc);
        tr.append(th);
    });
    thead.append(tr);
    table.append(thead);
    const tbody = doc.createElement('tbody');
    i += 2;
    while (i < lines.length && !isBlank(lines[i]) && lines[i].includes('|')) {
        const cells = splitRow(lines[i]);
        const row = doc.createElement('tr');
        for (let k = 0; k < head.length; k++) {
            const td = doc.createElement('td');
            if (align[k]) td.className = 'align-' + align[k];
            renderInline(cells[k] || '', td, doc);
            row.append(td);
        }
        tbody.append(row);
        i++;
    }
    if (tbody.childNodes.length) table.append(tbody);
    wrap.append(table);
    parent.append(wrap);
    return i;
}

function renderList(lines, i, parent, doc, depth) {
    const first = LIST_RE.exec(lines[i]);
    const indent = first[1].length;
    const ordered = /\d/.test(first[2]);
    // Items of one list share the bullet ("-", "*" or "+") or the number's
    // "." or ")"; another one starts a new list.
    const kind = first[2].slice(-1);
    const list = doc.createElement(ordered ? 'ol' : 'ul');
    if (ordered) {
        const start = parseInt(first[2], 10);
        if (start !== 1) list.start = start;
    }
    let loose = false;
    while (i < lines.length) {
        const m = LIST_RE.exec(lines[i]);
        if (!m || m[1].length !== indent || m[2].slice(-1) !== kind) break;
        const contentIndent = indent + m[2].length + 1;
        const body = [m[3] || ''];
        i++;
        // The item's further lines: indented ones, and lazy continuations of
        // its text; a blank line ends it unless indented lines follow.
        while (i < lines.length) {
            const line = lines[i];
            if (isBlank(line)) {
                let k = i;
                while (k < lines.length && isBlank(lines[k])) k++;
                if (k < lines.length && /^ */.exec(lines[k])[0].length > indent) {
                    for (; i < k; i++) body.push('');
                    loose = true;
                    continue;
                }
                break;
            }
            const lead = /^ */.exec(line)[0].length;
            if (lead > indent) {
                body.push(line.slice(Math.min(lead, contentIndent)));
            } else if (!startsBlock(lines, i) && !isBlank(body[body.length - 1])) {
                body.push(line.trim());
            } else {
                break;
            }
            i++;
        }
        const li = doc.createElement('li');
        renderBlocks(body, li, doc, depth + 1);
        list.append(li);
        // A blank line between items makes a loose list: paragraphs stay.
        let k = i;
        while (k < lines.length && isBlank(lines[k])) k++;
        const next = k < lines.length ? LIST_RE.exec(lines[k]) : null;
        if (k > i && next && next[1].length === indent && next[2].slice(-1) === kind) {
            loose = true;
            i = k;
        }
    }
    if (!loose) {
        for (const li of list.children) {
            const p = li.firstElementChild;
            if (p && p.tagName === 'P' && li.firstChild === p) p.replaceWith(...p.childNodes);
        }
    }
    parent.append(list);
    return i;
}

function renderBlocks(lines, parent, doc, depth = 0) {
    if (depth > MAX_DEPTH) {
        const p = doc.createElement('p');
        p.textContent = lines.join('\n');
        parent.append(p);
        return;
    }
    let i = 0;
    while (i < lines.length) {
        const line = lines[i];
        if (isBlank(line)) {
            i++;
            continue;
        }
        const f = fenceOf(line);
        if (f) {
            const { fence, pad } = f;
            const body = [];
            let closed = false;
            i++;
            while (i < lines.length) {
                const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(lines[i]);
                if (close && close[1][0] === fence[0] && close[1].length >= fence.length) {
                    closed = true;
                    i++;
                    break;
                }
                const lead = /^ */.exec(lines[i])[0].length;
                body.push(lines[i].slice(Math.min(lead, pad)));
                i++;
            }
            // Still streaming in: the line being written may be empty yet.
            if (!closed) while (body.length && isBlank(body[body.length - 1])) body.pop();
            parent.append(codeBlock(body.join('\n'), f.lang, doc));
            continue;
        }
        let m = HEADING_RE.exec(line);
        if (m) {
            const h = doc.createElement('h' + m[1].length);
            renderInline(headingText(m[2]), h, doc);
            parent.append(h);
            i++;
            continue;
        }
        if (HR_RE.test(line)) {
            parent.append(doc.createElement('hr'));
            i++;
            continue;
        }
        if (QUOTE_RE.test(line)) {
            const body = [];
            while (i < lines.length && (m = QUOTE_RE.exec(lines[i]))) {
                body.push(m[1]);
                i++;
            }
            const quote = doc.createElement('blockquote');
            renderBlocks(body, quote, doc, depth + 1);
            parent.append(quote);
            continue;
        }
        if (isTableStart(lines, i)) {
            i = renderTable(lines, i, parent, doc);
            continue;
        }
        m = LIST_RE.exec(line);
        if (m && m[3] !== undefined) {
            i = renderList(lines, i, parent, doc, depth);
            continue;
        }
        const text = [line.trim()];
        i++;
        while (i < lines.length && !isBlank(lines[i]) && !startsBlock(lines, i)) {
            text.push(lines[i].trim());
            i++;
        }
        const p = doc.createElement('p');
        renderInline(text.join('\n'), p, doc);
        parent.append(p);
    }
}

// Renders Markdown `text` as a DocumentFragment.
export function renderMarkdown(text, doc = document) {
    const frag = doc.createDocumentFragment();
    renderBlocks(String(text).replace(/\r\n?/g, '\n').split('\n'), frag, doc);
    return frag;
}

// Splits an answer into its reasoning (<think>...</think>, as reasoning
// models write it before the answer) and the answer. `thinking` is true
// while the reasoning has not ended yet. Some chat templates open the
// <think> block in the prompt, so an answer may start inside it: a
// "</think>" without an opening tag ends reasoning that began at the start.
export function splitThink(text) {
    const s = String(text);
    const lead = /^\s*<think>/.exec(s);
    if (lead) {
        const end = s.indexOf('</think>', lead[0].length);
        if (end < 0) return { think: s.slice(lead[0].length), answer: '', thinking: true };
        return {
            think: s.slice(lead[0].length, end),
            answer: s.slice(end + 8),
            thinking: false,
        };
    }
    const end = s.indexOf('</think>');
    if (end >= 0 && !s.slice(0, end).includes('<think>'))
        return { think: s.slice(0, end), answer: s.slice(end + 8), thinking: false };
    return { think: null, answer: s, thinking: false };
}

// An assistant answer: its reasoning folded under a <details>, then the
// answer as Markdown. `open` keeps the reasoning unfolded (while the user
// has it open during streaming).
export function renderAnswer(text, doc = document, open = false) {
    const { think, answer, thinking } = splitThink(text);
    const frag = doc.createDocumentFragment();
    if (think !== null && (think.trim() || thinking)) {
        const details = doc.createElement('details');
        details.className = 'think';
        details.open = open;
        const summary = doc.createElement('summary');
        summary.textContent = thinking ? 'Thinking\u2026' : 'Reasoning';
        const body = doc.createElement('div');
        body.className = 'think-body';
        body.append(renderMarkdown(think.trim(), doc));
        details.append(summary, body);
        frag.append(details);
    }
    frag.append(renderMarkdown(answer.replace(/^\s+/, ''), doc));
    return frag;
}
