// The chat page of `tektra serve` in a real browser. Starts the real server
// on free loopback ports with the real stories260K model and drives
// chromium through playwright-core (tests/web/run.sh sets NODE_PATH):
// streaming, Stop (the server cancels), a reload mid-answer, Regenerate,
// edit and resend, conversations across reloads (rename, delete), the
// Markdown renderer (also on degenerate input), model text that tries to be
// HTML, Copy, errors (busy, mid-stream, context, server gone), loading, the
// API key, --open, the security headers, and screenshots (light/dark,
// wide/narrow) into ${TEKTRA_ARTIFACTS:-~/.cache/tektra/artifacts}/web.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const BIN = process.env.TK_BIN;
const SHARED = process.env.TK_SHARED;
assert.ok(BIN && SHARED, 'TK_BIN and TK_SHARED must be set (run through ctest)');
const MODEL = path.join(SHARED, 'models/stories260K.gguf');
const ARTIFACTS = path.join(
    process.env.TEKTRA_ARTIFACTS || path.join(os.homedir(), '.cache/tektra/artifacts'),
    'web',
);
const T0 = Date.now();
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tk_web_'));

function log(msg) {
    console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`);
}

async function waitFor(what, fn, timeoutMs = 15000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
    }
}

// ---- the server ---------------------------------------------------------------

const servers = [];

// `tektra serve --port 0 -m stories260K ARGS` with a clean HOME; resolves
// once it listens and has loaded the model.
async function startServer(args, env = {}) {
    const proc = spawn(path.join(BIN, 'tektra'), ['serve', '--port', '0', '-m', MODEL, ...args], {
        env: { ...process.env, HOME: home, XDG_CONFIG_HOME: home, TEKTRA_API_KEY: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    const s = { proc, out: '', err: '', exited: false };
    proc.stdout.on('data', (d) => (s.out += d));
    proc.stderr.on('data', (d) => (s.err += d));
    proc.on('exit', (code, signal) => {
        s.exited = true;
        s.code = code;
        s.signal = signal;
    });
    servers.push(s);
    const m = await waitFor('the listening line', () => {
        if (s.exited) throw new Error(`tektra serve exited:\n${s.out}${s.err}`);
        return /listening on http:\/\/127\.0\.0\.1:(\d+) \(chat page: (http:\/\/[^\s)]+)\)/.exec(s.out);
    });
    s.port = Number(m[1]);
    s.url = m[2];
    assert.equal(s.url, `http://127.0.0.1:${s.port}/`);
    await waitFor('the model to load', () => s.err.includes('tektra: ready'));
    return s;
}

// Stops a server with SIGTERM; it must exit cleanly (with sanitizers, a
// leak or an error found on the way out makes this fail).
async function stopServer(s) {
    if (!s.exited) s.proc.kill('SIGTERM');
    await waitFor('the server to stop', () => s.exited, 10000);
    assert.equal(s.code, 0, `tektra serve exited with ${s.code} (${s.signal}):\n${s.err.slice(-3000)}`);
}

// ---- page helpers ----------------------------------------------------------------


async function answerState(page) {
    return page.evaluate(() => {
        const all = document.querySelectorAll('#messages .msg.assistant');
        const last = all[all.length - 1];
        if (!last) return null;
        return {
            text: last.querySelector('.content').textContent,
            pending: last.classList.contains('pending'),
            stats: last.querySelector('.stats').textContent,
            error: last.querySelector('.msg-error').hidden
                ? ''
                : last.querySelector('.msg-error').textContent,
        };
    });
}

async function waitAnswerDone(page, timeoutMs = 30000) {
    await waitFor('the answer to end', async () => {
        const a = await answerState(page);
        return a && !a.pending && !(await page.isVisible('#stop'));
    }, timeoutMs);
    return answerState(page);
}

async function setSetting(page, id, value) {
    await page.click('#open-settings');
    await page.fill(id, String(value));
    await page.click('#settings-save');
    await waitFor('the settings to close', async () => !(await page.isVisible('#settings-dialog')));
}

async function sendMessage(page, text) {
    await page.fill('#input', text);
    await page.press('#input', 'Enter');
}

async function countMessages(page) {
    return page.evaluate(() => document.querySelectorAll('#messages .msg').length);
}

async function convTitles(page) {
    return page.$$eval('#conv-list .conv-open', (bs) => bs.map((b) => b.textContent));
}

// ---- the tests ---------------------------------------------------------------------

async function testStreaming(page, srv) {
    log('streaming');
    await setSetting(page, '#set-max-tokens', 5000);
    const before = await countMessages(page);
    // The page records the answer's length at every change (the test's own
    // observer: polling from here could miss steps on a busy machine).
    await page.evaluate(() => {
        const box = document.getElementById('messages');
        window.lengths = [];
        new MutationObserver(() => {
            const all = box.querySelectorAll('.msg.assistant .content');
            const n = all.length ? all[all.length - 1].textContent.length : -1;
            if (window.lengths[window.lengths.length - 1] !== n) window.lengths.push(n);
        }).observe(box, { subtree: true, childList: true, characterData: true });
    });
    await sendMessage(page, 'Hello there');
    // The input stays usable while the answer streams.
    await waitFor('the answer to start', async () => {
        const a = await answerState(page);
        return a && a.pending && a.text.length > 0;
    });
    await page.fill('#input', 'typed while streaming');
    assert.equal(await page.inputValue('#input'), 'typed while streaming');
    assert.ok((await answerState(page)).pending, 'typed while the answer was streaming');
    // 5000 tokens: seconds in a release build, much longer under the
    // sanitizers on a busy machine.
    await waitAnswerDone(page, 180000);
    const lengths = await page.evaluate(() => window.lengths.filter((n) => n > 0));
    const done = await answerState(page);
    assert.ok(lengths.length >= 3, `the text grew in steps: ${lengths.join(', ')}`);
    assert.ok(lengths[lengths.length - 1] > lengths[0], `grew: ${lengths.join(', ')}`);
    assert.ok(done.text.length > 100, 'an answer came');
    assert.match(done.stats, /\d+ tokens/);
    assert.match(done.stats, /tokens\/s/);
    assert.match(done.stats, /first token \d/);
    assert.match(done.stats, /context \d+ of 32768/);
    assert.equal(await countMessages(page), before + 2);
    assert.equal(await page.inputValue('#input'), 'typed while streaming');
    await waitFor('the page to settle', async () => await page.isVisible('#send'));
    const settled = (await answerState(page)).text.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await answerState(page)).text.length, settled, 'nothing after the end');

    // Shift+Enter is a new line, not a send.
    await page.fill('#input', 'a');
    await page.press('#input', 'Shift+Enter');
    await page.type('#input', 'b');
    assert.equal(await page.inputValue('#input'), 'a\nb');
    assert.equal(await countMessages(page), before + 2);
    await page.fill('#input', '');
    assert.match(await page.textContent('#conv-title'), /Hello there/);
}

async function testStop(page, srv) {
    log('stop');
    await setSetting(page, '#set-max-tokens', 20000);
    await sendMessage(page, 'Tell me a very long story');
    // The prompt now holds the 5000-token answer before: long to read in
    // a sanitizer build.
    await waitFor('the answer to start', async () => {
        const a = await answerState(page);
        return a && a.pending && a.text.length > 40;
    }, 120000);
    await page.click('#stop');
    const a = await waitAnswerDone(page, 5000);
    assert.match(a.stats, /stopped/);
    assert.equal(a.error, '');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'input', 'focus back in the input');
    const len = a.text.length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await answerState(page)).text.length, len, 'the text stopped growing');
    await waitFor('the server to log the cancellation', () => /finish cancelled/.test(srv.err), 5000);

    // A reload in the middle of an answer keeps what had come (saved as
    // it streams), marked as stopped; the server cancels this one too.
    await sendMessage(page, 'One more long story');
    await waitFor('the answer to start', async () => {
        const x = await answerState(page);
        return x && x.pending && x.text.length > 0;
    });
    await new Promise((r) => setTimeout(r, 1300));
    await page.reload();
    await page.waitForSelector('#messages .msg.assistant');
    const kept = await answerState(page);
    assert.ok(kept.text.length > 0, 'the partial answer survived the reload');
    assert.match(kept.stats, /stopped/);
    await waitFor('the second cancellation', () => (srv.err.match(/finish cancelled/g) || []).length >= 2, 5000);

    // The next message works.
    await setSetting(page, '#set-max-tokens', 40);
    await sendMessage(page, 'And another one');
    const next = await waitAnswerDone(page);
    assert.ok(next.text.length > 0);
    assert.match(next.stats, /tokens\/s/);
    assert.equal(next.error, '');
}

async function testRegenerateAndEdit(page) {
    log('regenerate and edit');
    const n = await countMessages(page);
    await page.click('#messages .regenerate');
    const r = await waitAnswerDone(page);
    assert.ok(r.text.length > 0);
    assert.equal(await countMessages(page), n, 'Regenerate replaces the last answer');

    await page.click('#messages .edit');
    await page.fill('.edit-input', 'An edited question');
    await page.press('.edit-input', 'Enter');
    const e = await waitAnswerDone(page);
    assert.ok(e.text.length > 0);
    assert.equal(await countMessages(page), n, 'the edit replaced the last turn');
    const lastUser = await page.$$eval('.msg.user .content', (els) => els[els.length - 1].textContent);
    assert.equal(lastUser, 'An edited question');
}

async function testConversations(page) {
    log('conversations survive a reload; rename; delete');
    const n = await countMessages(page);
    await page.reload();
    await waitFor('the header', async () => /stories260K/.test(await page.textContent('#model-info')));
    assert.deepEqual(await convTitles(page), ['Hello there']);
    assert.equal(await countMessages(page), n);

    await page.click('#new-chat');
    await setSetting(page, '#set-max-tokens', 30);
    await sendMessage(page, 'A second chat');
    await waitAnswerDone(page);
    assert.deepEqual(await convTitles(page), ['A second chat', 'Hello there']);

    await page.click('#conv-list .conv.active .conv-rename');
    await page.fill('.conv-title-input', 'Renamed chat');
    await page.press('.conv-title-input', 'Enter');
    assert.deepEqual(await convTitles(page), ['Renamed chat', 'Hello there']);
    await page.reload();
    await page.waitForSelector('#conv-list .conv');
    assert.deepEqual(await convTitles(page), ['Renamed chat', 'Hello there']);
    assert.equal(await page.textContent('#conv-title'), 'Renamed chat');

    // Deleting asks once more on the same button.
    const del = '#conv-list .conv.active .conv-delete';
    await page.click(del);
    assert.deepEqual(await convTitles(page), ['Renamed chat', 'Hello there']);
    await page.click(del);
    assert.deepEqual(await convTitles(page), ['Hello there']);
    await page.reload();
    await page.waitForSelector('#conv-list .conv');
    assert.deepEqual(await convTitles(page), ['Hello there']);
    assert.equal(await countMessages(page), n, 'the remaining conversation is shown');
}

const MARKDOWN = [
    '# Title',
    '## Sub *title*',
    '',
    'A paragraph with **bold**, *italic*, ~~gone~~ and `code <b>`.',
    'A second line with a [link](https://example.com/a?b=1) and https://example.org/x.',
    '',
    '- one',
    '- two',
    '  - nested',
    '- three',
    '',
    '3. c',
    '4. d',
    '',
    '```python',
    'print("<script>")',
    '```',
    '',
    '| name | n |',
    '|:-----|--:|',
    '| a `x` | 1 |',
    '| b | 22 |',
    '',
    '> quoted',
    '',
    '[bad](javascript:alert(1)) [data](data:text/html,hi) <javascript:alert(2)> [mail](mailto:a@b.c)',
].join('\n');

async function testMarkdown(page) {
    log('markdown renderer (md.js imported in the page)');
    const r = await page.evaluate(async (src) => {
        const md = await import('/md.js');
        const root = document.createElement('div');
        root.append(md.renderMarkdown(src));
        const q = (s) => [...root.querySelectorAll(s)];
        return {
            h1: q('h1').map((e) => e.textContent),
            h2: q('h2').map((e) => e.innerHTML),
            strong: q('p strong').map((e) => e.textContent),
            em: q('p em').map((e) => e.textContent),
            del: q('del').map((e) => e.textContent),
            inlineCode: q('p code').map((e) => e.textContent),
            br: q('p br').length,
            links: q('a').map((e) => [e.textContent, e.getAttribute('href'), e.rel, e.target]),
            ul: q(':scope > ul > li').length,
            nested: q('ul ul li').map((e) => e.textContent),
            ol: q('ol').map((e) => [e.start, e.children.length]),
            code: q('.code-block code').map((e) => [e.dataset.lang, e.textContent]),
            copy: q('.code-block button.copy').length,
            th: q('th').map((e) => [e.textContent, e.className]),
            td: q('td').map((e) => e.textContent),
            tdCode: q('td code').length,
            quote: q('blockquote p').map((e) => e.textContent),
            text: root.textContent,
            tags: [...new Set(q('*').map((e) => e.tagName))].sort(),
        };
    }, MARKDOWN);
    assert.deepEqual(r.h1, ['Title']);
    assert.deepEqual(r.h2, ['Sub <em>title</em>']);
    assert.deepEqual(r.strong, ['bold']);
    assert.deepEqual(r.em, ['italic']);
    assert.deepEqual(r.del, ['gone']);
    assert.deepEqual(r.inlineCode, ['code <b>']);
    assert.equal(r.br, 1);
    assert.deepEqual(r.links, [
        ['link', 'https://example.com/a?b=1', 'noopener noreferrer', '_blank'],
        ['https://example.org/x', 'https://example.org/x', 'noopener noreferrer', '_blank'],
        ['mail', 'mailto:a@b.c', 'noopener noreferrer', '_blank'],
    ]);
    assert.equal(r.ul, 3);
    assert.deepEqual(r.nested, ['nested']);
    assert.deepEqual(r.ol, [[3, 2]]);
    assert.deepEqual(r.code, [['python', 'print("<script>")']]);
    assert.equal(r.copy, 1);
    assert.deepEqual(r.th, [
        ['name', 'align-left'],
        ['n', 'align-right'],
    ]);
    assert.deepEqual(r.td, ['a x', '1', 'b', '22']);
    assert.equal(r.tdCode, 1);
    assert.deepEqual(r.quote, ['quoted']);
    assert.ok(r.text.includes('[bad](javascript:alert(1))'), 'a javascript: link stays text');
    assert.ok(r.text.includes('[data](data:text/html,hi)'), 'a data: link stays text');
    assert.ok(r.text.includes('<javascript:alert(2)>'));
    for (const tag of r.tags) {
        assert.ok(!['SCRIPT', 'IMG', 'IFRAME', 'B', 'STYLE'].includes(tag), `no ${tag} element`);
    }

    // Smaller cases: strong and emphasis at once; a fence still streaming in;
    // a heading's closing #s; reasoning still going on.
    const small = await page.evaluate(async () => {
        const md = await import('/md.js');
        const html = (src) => {
            const d = document.createElement('div');
            d.append(md.renderMarkdown(src));
            return d.innerHTML;
        };
        const answer = (src) => {
            const d = document.createElement('div');
            d.append(md.renderAnswer(src));
            const t = d.querySelector('details.think');
            return [t && t.querySelector('summary').textContent, d.querySelector(':scope > p')?.textContent ?? ''];
        };
        return {
            both: html('***both***'),
            open: html('```py\nprint(1)\n'),
            heading: html('## Done ##\n# C#'),
            lists: html('- a\n- b\n* c\n1. d\n2) e'),
            thinking: answer('<think>still going'),
            thought: answer('<think>done</think>\n\nThe answer.'),
            closeOnly: answer('hidden</think>Shown.'),
        };
    });
    assert.equal(small.both, '<p><strong><em>both</em></strong></p>');
    assert.match(small.open, /<code data-lang="py">print\(1\)<\/code>/);
    assert.equal(small.heading, '<h2>Done</h2><h1>C#</h1>');
    assert.equal(small.lists, '<ul><li>a</li><li>b</li></ul><ul><li>c</li></ul><ol><li>d</li></ol><ol start="2"><li>e</li></ol>');
    assert.deepEqual(small.thinking, ['Thinking\u2026', '']);
    assert.deepEqual(small.thought, ['Reasoning', 'The answer.']);
    assert.deepEqual(small.closeOnly, ['Reasoning', 'Shown.']);
}

// Degenerate model output (long runs of delimiters, deep nesting, very long
// lines) renders quickly and without a stack overflow: the page renders an
// answer again and again while it streams.
async function testMarkdownWorstCases(page) {
    log('markdown renderer on degenerate input');
    const r = await page.evaluate(async () => {
        const md = await import('/md.js');
        const cases = {
            stars: 'a' + '**'.repeat(20000),
            starA: '*a'.repeat(20000),
            under: '_a'.repeat(20000),
            ticks: '`a'.repeat(20000) + '``',
            brackets: '['.repeat(20000) + '](x)'.repeat(50),
            links: '[a](https://e.com/) '.repeat(3000),
            fenceLine: '```' + 'a'.repeat(50000) + '`',
            heading: '# a' + ' '.repeat(50000) + 'b',
            quotes: '>'.repeat(5000) + ' deep',
            lists: Array.from({ length: 300 }, (_, k) => ' '.repeat(2 * k) + '- x').join('\n'),
            emph: '*_'.repeat(5000) + 'x' + '_*'.repeat(5000),
            table: '|a|b|\n|-|-|\n' + '|x|y|\n'.repeat(5000),
            pipes: '|'.repeat(30000) + '\n' + '-|'.repeat(15000),
            url: 'see http://' + 'a.'.repeat(30000),
        };
        const out = {};
        for (const [name, src] of Object.entries(cases)) {
            const t0 = performance.now();
            let error = '';
            let n = 0;
            try {
                const div = document.createElement('div');
                div.append(md.renderAnswer(src));
                n = div.getElementsByTagName('*').length;
                if (!div.textContent.length) error = 'empty';
            } catch (e) {
                error = String(e);
            }
            out[name] = { ms: performance.now() - t0, error, n };
        }
        return out;
    });
    for (const [name, c] of Object.entries(r)) {
        assert.equal(c.error, '', `${name}: ${c.error}`);
        assert.ok(c.ms < 2000, `${name} took ${c.ms.toFixed(0)} ms`);
    }
    assert.equal(r.links.n, 3000 + 1, 'every link rendered');
    log(`  ${Object.entries(r).map(([k, c]) => `${k} ${c.ms.toFixed(0)}`).join(", ")} ms`);
}

function sse(events) {
    return events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('');
}

function chunk(content, finish = null, timings = undefined) {
    const c = {
        object: 'chat.completion.chunk',
        choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
    };
    if (timings) c.timings = timings;
    return c;
}

async function testUnsafeText(page) {
    log('model text that looks like HTML stays text');
    const dialogs = [];
    const requests = [];
    page.on('dialog', (d) => {
        dialogs.push(d.message());
        d.dismiss().catch(() => {});
    });
    page.on('request', (r) => requests.push(r.url()));
    const answer =
        '<think>Pondering <b>this</b>.</think>Here: <script>alert(1)</script> and ' +
        '<img src=x onerror=alert(2)> and [click](javascript:alert(3)).\n\n' +
        '| a | b |\n|---|---|\n| <img src=x onerror=alert(4)> | 2 |\n\n' +
        '```html\n<script>alert(7)</script>\n```';
    await page.route('**/v1/chat/completions', (route) =>
        route.fulfill({
            status: 200,
            headers: { 'Content-Type': 'text/event-stream' },
            body: sse([
                chunk(answer.slice(0, 30)),
                chunk(answer.slice(30)),
                chunk(null, 'stop', { predicted_n: 9, predicted_ms: 3, predicted_per_second: 3000, ttft_ms: 1, prompt_n: 5, prompt_ms: 1 }),
                '[DONE]',
            ]),
        }),
    );
    await page.click('#new-chat');
    await sendMessage(page, '<img src=x onerror=alert(5)><script>alert(6)</script>');
    const a = await waitAnswerDone(page);
    await page.unroute('**/v1/chat/completions');
    await new Promise((r) => setTimeout(r, 300));
    const dom = await page.evaluate(() => {
        const m = document.getElementById('messages');
        const think = m.querySelector('.msg.assistant details.think');
        return {
            scripts: m.querySelectorAll('script').length,
            imgs: m.querySelectorAll('img').length,
            badLinks: [...m.querySelectorAll('a')].filter((x) => !/^https?:|^mailto:/.test(x.href)).length,
            user: m.querySelector('.msg.user .content').textContent,
            think: think && [think.open, think.querySelector('summary').textContent, think.textContent],
            cells: [...m.querySelectorAll('td')].map((td) => td.textContent),
        };
    });
    assert.deepEqual(dialogs, [], 'no dialog opened');
    assert.deepEqual(requests.filter((u) => /\/x$/.test(u)), [], 'nothing fetched from "x"');
    assert.equal(dom.scripts, 0);
    assert.equal(dom.imgs, 0);
    assert.equal(dom.badLinks, 0);
    assert.equal(dom.user, '<img src=x onerror=alert(5)><script>alert(6)</script>');
    assert.ok(a.text.includes('<script>alert(1)</script>'), a.text);
    assert.ok(a.text.includes('<img src=x onerror=alert(2)>'));
    assert.ok(a.text.includes('[click](javascript:alert(3))'));
    assert.deepEqual(dom.cells, ['<img src=x onerror=alert(4)>', '2']);
    assert.ok(dom.think, 'the reasoning is under a <details>');
    assert.equal(dom.think[0], false, 'folded');
    assert.equal(dom.think[1], 'Reasoning');
    assert.ok(dom.think[2].includes('Pondering <b>this</b>.'));
    assert.match(a.stats, /9 tokens · 3000\.0 tokens\/s · first token 1 ms/);

    // The code block's Copy button copies the code as written.
    assert.equal(await page.textContent('#messages .code-block code'), '<script>alert(7)</script>');
    await page.click('#messages .code-block .copy');
    await waitFor('Copied', async () => (await page.textContent('#messages .code-block .copy')) === 'Copied');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), '<script>alert(7)</script>');
    await page.click('#messages .copy-answer');
    await waitFor('the answer in the clipboard', async () =>
        (await page.evaluate(() => navigator.clipboard.readText())) === answer);
}

async function testErrors(page) {
    log('errors are shown in the conversation');
    await page.route('**/v1/chat/completions', (route) =>
        route.fulfill({
            status: 503,
            headers: { 'Content-Type': 'application/json', 'Retry-After': '1' },
            body: JSON.stringify({
                error: { message: 'every slot is busy and the queue is full; try again shortly', type: 'server_error', param: null, code: 'server_busy' },
            }),
        }),
    );
    await sendMessage(page, 'Are you busy?');
    let a = await waitAnswerDone(page);
    assert.match(a.error, /Server busy/);
    assert.match(a.error, /every slot is busy/);
    await page.unroute('**/v1/chat/completions');

    await page.route('**/v1/chat/completions', (route) =>
        route.fulfill({
            status: 200,
            headers: { 'Content-Type': 'text/event-stream' },
            body: sse([chunk('Half an ans'), { error: { message: 'out of memory', type: 'server_error', param: null, code: null } }]),
        }),
    );
    await page.click('#messages .regenerate');
    a = await waitAnswerDone(page);
    assert.equal(a.text, 'Half an ans');
    assert.match(a.error, /failed part-way/);
    assert.match(a.error, /out of memory/);
    await page.unroute('**/v1/chat/completions');
}

async function testScreenshots(page) {
    log('screenshots');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.click('#conv-list .conv-open >> text=Hello there');
    for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const [name, width, height] of [
            ['wide', 1280, 800],
            ['narrow', 380, 760],
        ]) {
            await page.setViewportSize({ width, height });
            await new Promise((r) => setTimeout(r, 200));
            const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
            assert.ok(overflow <= 0, `no sideways scrolling at ${width}px (${overflow}px too wide)`);
            await page.screenshot({ path: path.join(ARTIFACTS, `chat-${scheme}-${name}.png`) });
        }
        const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        const dark = /rgb\((\d+)/.exec(bg)[1] < 128;
        assert.equal(dark, scheme === 'dark', `${scheme} scheme background ${bg}`);
    }
    // The list of conversations opens over the chat on a narrow screen.
    await page.setViewportSize({ width: 380, height: 760 });
    assert.equal(await page.isVisible('#toggle-sidebar'), true);
    await page.click('#toggle-sidebar');
    await new Promise((r) => setTimeout(r, 250));
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat-dark-narrow-list.png') });
    await page.click('#conv-list .conv-open >> text=Hello there');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
}

// While the model loads, /props answers 503 model_loading: the header says
// so and the page asks again until the model is there.
async function testLoading(context, srv) {
    log('loading state');
    const page = await context.newPage();
    let calls = 0;
    await page.route('**/props', (route) => {
        if (calls++ >= 2) return route.continue();
        return route.fulfill({
            status: 503,
            headers: { 'Content-Type': 'application/json', 'Retry-After': '1' },
            body: JSON.stringify({
                error: { message: 'the model is still loading', type: 'server_error', param: null, code: 'model_loading' },
            }),
        });
    });
    await page.goto(srv.url);
    await waitFor('"loading"', async () => /loading the model/.test(await page.textContent('#model-info')));
    await waitFor('the header', async () => /stories260K/.test(await page.textContent('#model-info')), 5000);
    assert.ok(calls >= 3);
    await page.close();
}

async function testApiKey(browser) {
    log('API key, context overflow, --open without a browser, server gone');
    const srv = await startServer(['--api-key', 'sekrit', '-c', '64', '--open'], { PATH: '/nonexistent' });
    assert.match(srv.err, /could not open a browser here.*open http:\/\/127\.0\.0\.1:\d+\/ yourself/);
    const base = srv.url.replace(/\/$/, '');
    for (const [p, status] of [['/', 200], ['/style.css', 200], ['/app.js', 200], ['/props', 401], ['/v1/models', 401]]) {
        const res = await fetch(base + p);
        assert.equal(res.status, status, `GET ${p} without a key`);
    }
    const props = await (await fetch(base + '/props', { headers: { Authorization: 'Bearer sekrit' } })).json();
    assert.equal(props.model, 'stories260K');
    assert.equal(props.backend, 'gguf');
    assert.equal(props.n_ctx, 64);
    assert.ok(props.n_parallel >= 1 && props.n_parallel <= 4, 'n_parallel is chosen: ' + props.n_parallel);
    assert.equal(typeof props.kernel_level, 'string');

    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(srv.url);
    await page.waitForSelector('#key-dialog[open]');
    await page.fill('#key-input', 'wrong');
    await page.click('#key-ok');
    await page.waitForSelector('#key-dialog[open] #key-error:not([hidden])');
    await page.fill('#key-input', 'sekrit');
    await page.click('#key-ok');
    await waitFor('the header', async () => /stories260K/.test(await page.textContent('#model-info')));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('tektra.apiKey')), 'sekrit');
    assert.equal(await page.evaluate(() => JSON.stringify(localStorage).includes('sekrit')), false);

    // A message longer than the 64-token context: 400 context_length_exceeded.
    await sendMessage(page, 'Once upon a time there was a little girl who liked to play. '.repeat(12));
    let a = await waitAnswerDone(page);
    assert.match(a.error, /Too long for the context/);
    assert.equal(a.text, '');

    // The server goes away.
    await stopServer(srv);
    await sendMessage(page, 'Are you there?');
    a = await waitAnswerDone(page);
    assert.match(a.error, /Server unreachable/);
    await page.waitForSelector('#banner:not([hidden])');
    assert.deepEqual(errors, []);
    await context.close();
}

// --open with a stand-in for xdg-open (and macOS's open): it is called with
// the page's address, and starts with no signals blocked although the
// server blocks SIGINT and SIGTERM for itself.
async function testOpen() {
    log('--open calls the browser opener');
    const bin = path.join(home, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    const record = path.join(home, 'opened.txt');
    // Python where there is one: a shell and node clear their signal mask
    // when they start, so they cannot tell what they inherited.
    const python = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p));
    const script = python
        ? `#!${python}
import sys
blocked = ''
try:
    blocked = [l.strip() for l in open('/proc/self/status') if l.startswith('SigBlk')][0]
except OSError:
    pass
open(${JSON.stringify(record)}, 'w').write(sys.argv[1] + '\\n' + blocked + '\\n')
`
        : `#!/bin/sh\necho "$1" > "${record}"\n`;
    for (const name of ['xdg-open', 'open']) {
        fs.writeFileSync(path.join(bin, name), script, { mode: 0o755 });
    }
    const srv = await startServer(['--open'], { PATH: `${bin}:/usr/bin:/bin` });
    await waitFor('the opener to run', () => /opened http:\/\/127\.0\.0\.1:\d+\/ in the browser/.test(srv.err));
    const lines = fs.readFileSync(record, 'utf8').split('\n');
    assert.equal(lines[0], srv.url);
    if (python && process.platform === 'linux') assert.match(lines[1], /^SigBlk:\s+0+$/);
    await stopServer(srv);
}

async function main() {
    const srv = await startServer(['-c', '32768', '-t', '1', '-v']);
    log(`server on ${srv.url}`);
    const browser = await chromium.launch({
        executablePath: process.env.TK_CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox'],
    });
    let page;
    try {
        const context = await browser.newContext({
            viewport: { width: 1280, height: 800 },
            permissions: ['clipboard-read', 'clipboard-write'],
        });
        page = await context.newPage();
        const pageErrors = [];
        const consoleErrors = [];
        page.on('pageerror', (e) => pageErrors.push(e.message));
        page.on('console', (m) => {
            if (m.type() === 'error') consoleErrors.push(m.text());
        });
        const res = await page.goto(srv.url);
        const h = res.headers();
        assert.match(h['content-security-policy'], /default-src 'self'/);
        assert.match(h['content-security-policy'], /script-src 'self'(;|$)/);
        assert.equal(h['x-content-type-options'], 'nosniff');
        assert.match(h['content-type'], /^text\/html/);
        await waitFor('the header', async () => {
            const t = await page.textContent('#model-info');
            return /stories260K · GGUF · \w+ · 32K context/.test(t);
        });
        await testStreaming(page, srv);
        await testStop(page, srv);
        await testRegenerateAndEdit(page);
        await testConversations(page);
        await testMarkdown(page);
        await testMarkdownWorstCases(page);
        await testUnsafeText(page);
        await testErrors(page);
        await testScreenshots(page);
        await testLoading(context, srv);
        // Expected console errors: the failed requests of testErrors.
        const unexpected = consoleErrors.filter((e) => !/status of 503/.test(e));
        assert.deepEqual(pageErrors, [], 'no script errors');
        assert.deepEqual(unexpected, [], 'no console errors (CSP violations among them)');
        await testApiKey(browser);
        await testOpen();
        await stopServer(srv);
    } catch (e) {
        if (page) {
            fs.mkdirSync(ARTIFACTS, { recursive: true });
            await page.screenshot({ path: path.join(ARTIFACTS, 'failure.png') }).catch(() => {});
        }
        for (const s of servers) console.error(`--- server log:\n${s.out}${s.err.slice(-4000)}`);
        throw e;
    } finally {
        await browser.close();
        for (const s of servers) if (!s.exited) s.proc.kill('SIGKILL');
        fs.rmSync(home, { recursive: true, force: true });
    }
    log(`ok; screenshots in ${ARTIFACTS}`);
}

await main();
