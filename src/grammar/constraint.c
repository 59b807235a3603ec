/* The token-level matcher of a grammar.
 *
 * The state is a set of stacks (a pushdown automaton run on all
 * alternatives at once). A stack is a chain of nodes in an arena; its top
 * points at a terminal element (a byte or a class), and each node below is
 * where to continue when the rule above is done. A stack with no node is a
 * complete parse. A class being matched across the bytes of one UTF-8
 * character keeps the partial codepoint in the stack.
 *
 * Masking walks a trie of the vocabulary's byte strings: every trie edge
 * advances the stack set by one byte, and a subtree is skipped as soon as
 * no stack survives. Arena and stack memory is reused between calls
 * (amortised growth only). */
#include "grammar/grammar_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STACKS 4096 /* per set; beyond this the grammar is too ambiguous */
#define MAX_SETTLE_DEPTH 4096

typedef struct gstack {
    int32_t top; /* node index, -1 = complete */
    uint32_t val; /* partial codepoint */
    uint8_t rem;  /* continuation bytes still expected (0 = none) */
    uint8_t len;  /* length of the character being read */
} gstack;

typedef struct trie_node {
    int32_t child, sibling; /* first child, next sibling; -1 = none */
    int32_t tokens;         /* first token ending here (chain in tok_next), -1 = none */
    uint8_t byte;
} trie_node;

struct tk_constraint {
    const tk_grammar *g;
    const tk_tokenizer *tok;
    int32_t n_vocab;
    /* token bytes */
    int64_t *tok_off; /* [n_vocab + 1] */
    uint8_t *tok_bytes;
    uint8_t *tok_kind; /* 0 = never, 1 = normal, 2 = end of generation */
    int32_t *tok_next; /* same bytes chain */
    trie_node *trie;
    int32_t n_trie;
    /* node arena */
    int32_t *npos, *npar;
    int32_t n_nodes, cap_nodes;
    int32_t *npos2, *npar2; /* compaction target */
    int32_t cap_nodes2;
    /* stack sets: cur in stk[0 .. n_cur), scratch above */
    gstack *stk;
    int32_t n_stk, cap_stk;
    int32_t n_cur;
    int32_t *chain; /* compaction scratch */
    int32_t cap_chain;
    uint8_t *allowed; /* [n_vocab] */
    bool overflow, oom;
};

static bool grow_nodes(tk_constraint *c)
{
    if (c->n_nodes < c->cap_nodes) return true;
    int32_t nc = c->cap_nodes ? c->cap_nodes * 2 : 1024;
    int32_t *a = realloc(c->npos, (size_t)nc * sizeof *a);
    if (!a) return !(c->oom = true);
    c->npos = a;
    int32_t *b = realloc(c->npar, (size_t)nc * sizeof *b);
    if (!b) return !(c->oom = true);
    c->npar = b;
    c->cap_nodes = nc;
    return true;
}

static int32_t new_node(tk_constraint *c, int32_t pos, int32_t parent)
{
    if (!grow_nodes(c)) return -2;
    c->npos[c->n_nodes] = pos;
    c->npar[c->n_nodes] = parent;
    return c->n_nodes++;
}

static bool same_chain(const tk_constraint *c, int32_t a, int32_t b)
{
    while (a != b) {
        if (a < 0 || b < 0 || c->npos[a] != c->npos[b]) return false;
        a = c->npar[a];
        b = c->npar[b];
    }
    return true;
}

/* Appends a stack to the set that starts at `from`, unless already there. */
static bool emit(tk_constraint *c, int32_t from, gstack s)
{
    for (int32_t i = from; i < c->n_stk; i++) {
        const gstack *o = &c->stk[i];
        if (o->rem == s.rem && o->val == s.val && o->len == s.len && same_chain(c, o->top, s.top)) return true;
    }
    if (c->n_stk - from >= MAX_STACKS) {
        c->overflow = true;
        return false;
    }
    if (c->n_stk >= c->cap_stk) {
        int32_t nc = c->cap_stk ? c->cap_stk * 2 : 256;
        gstack *v = realloc(c->stk, (size_t)nc * sizeof *v);
        if (!v) return !(c->oom = true);
        c->stk = v;
        c->cap_stk = nc;
    }
    c->stk[c->n_stk++] = s;
    return true;
}

/* Expands position `pos` under `parent` until every stack's top is a
 * terminal (or the stack is complete), appending them from `from`. */
static bool settle(tk_constraint *c, int32_t from, int32_t pos, int32_t parent, int depth)
{
    const tk_grammar *g = c->g;
    if (depth > MAX_SETTLE_DEPTH) {
        c->overflow = true;
        return false;
    }
    for (;;) {
        g_elem e = g->elems[pos];
        if (e.kind == GE_END) {
            if (parent < 0) return emit(c, from, (gstack){-1, 0, 0, 0});
            pos = c->npos[parent];
            parent = c->npar[parent];
            continue;
        }
        if (e.kind == GE_REF) {
            int32_t cont = parent;
            if (g->elems[pos + 1].kind != GE_END) {
                cont = new_node(c, pos + 1, parent);
                if (cont < -1) return false;
            }
            for (int32_t a = g->alt_first[e.v]; a < g->alt_first[e.v + 1]; a++)
                if (!settle(c, from, g->alts[a], cont, depth + 1)) return false;
            return true;
        }
        int32_t n = new_node(c, pos, parent);
        if (n < -1) return false;
        return emit(c, from, (gstack){n, 0, 0, 0});
    }
}

/* Advances the stacks stk[a .. b) by one byte; the result is appended at
 * the end of stk. Returns false on overflow / out of memory. */
static bool advance(tk_constraint *c, int32_t a, int32_t b, uint8_t byte)
{
    const tk_grammar *g = c->g;
    int32_t from = c->n_stk;
    for (int32_t i = a; i < b; i++) {
        gstack s = c->stk[i];
        if (s.top < 0) continue;
        int32_t pos = c->npos[s.top];
        g_elem e = g->elems[pos];
        if (e.kind == GE_BYTE) {
            if (e.v == byte && !settle(c, from, pos + 1, c->npar[s.top], 0)) return false;
            continue;
        }
        /* GE_SET: one UTF-8 character */
        uint32_t val;
        int rem, clen = s.len;
        if (s.rem == 0) {
            if (byte < 0x80) val = byte, rem = 0;
            else if (byte >= 0xC2 && byte <= 0xDF) val = byte & 0x1Fu, rem = 1;
            else if ((byte & 0xF0) == 0xE0) val = byte & 0x0Fu, rem = 2;
            else if (byte >= 0xF0 && byte <= 0xF4) val = byte & 0x07u, rem = 3;
            else continue; /* not a lead byte, or C0/C1/F5+ (never valid) */
            clen = rem + 1;
        } else {
            if ((byte & 0xC0) != 0x80) continue;
            /* overlong forms, surrogates and codepoints past U+10FFFF are
             * refused on the second byte, where the lead alone decides */
            if (s.rem == 2 && s.val == 0x0 && byte < 0xA0) continue;
            if (s.rem == 2 && s.val == 0xD && byte > 0x9F) continue;
            if (s.rem == 3 && s.val == 0x0 && byte < 0x90) continue;
            if (s.rem == 3 && s.val == 0x4 && byte > 0x8F) continue;
            val = (s.val << 6) | (byte & 0x3Fu);
            rem = s.rem - 1;
        }
        if (rem == 0) {
            if (g_set_has(g, e.v, val) && !settle(c, from, pos + 1, c->npar[s.top], 0))
                return false;
        } else {
            static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
            uint32_t lo = val << (6 * rem), hi = lo | ((1u << (6 * rem)) - 1);
            if (lo < min_cp[clen]) lo = min_cp[clen];
            if (hi > 0x10FFFF) hi = 0x10FFFF;
            if (lo <= hi && g_set_meets(g, e.v, lo, hi) &&
                !emit(c, from, (gstack){s.top, val, (uint8_t)rem, (uint8_t)clen}))
                return false;
        }
    }
    return true;
}

static bool is_complete(const tk_constraint *c)
{
    for (int32_t i = 0; i < c->n_cur; i++)
        if (c->stk[i].top < 0) return true;
    return false;
}

/* Makes stk[from .. n_stk) the current set, copying its nodes to a fresh
 * arena so that dead nodes are dropped. */
static bool commit(tk_constraint *c, int32_t from)
{
    int32_t n = c->n_stk - from;
    int32_t need = 0;
    for (int32_t i = from; i < c->n_stk; i++)
        for (int32_t t = c->stk[i].top; t >= 0; t = c->npar[t]) need++;
    if (need > c->cap_nodes2) {
        int32_t nc = need + need / 2 + 64;
        int32_t *a = realloc(c->npos2, (size_t)nc * sizeof *a);
        if (!a) return !(c->oom = true);
        c->npos2 = a;
        int32_t *b = realloc(c->npar2, (size_t)nc * sizeof *b);
        if (!b) return !(c->oom = true);
        c->npar2 = b;
        c->cap_nodes2 = nc;
    }
    int32_t k = 0;
    for (int32_t i = from; i < c->n_stk; i++) {
        int32_t t = c->stk[i].top;
        if (t < 0) continue;
        /* reverse the chain into new nodes: bottom first */
        int32_t depth = 0;
        for (int32_t u = t; u >= 0; u = c->npar[u]) depth++;
        int32_t base = k;
        int32_t u = t;
        for (int32_t d = depth - 1; d >= 0; d--) {
            c->npos2[base + d] = c->npos[u];
            c->npar2[base + d] = d > 0 ? base + d - 1 : -1;
            u = c->npar[u];
        }
        k += depth;
        c->stk[i].top = base + depth - 1;
    }
    int32_t *tp = c->npos, *tq = c->npar, tc = c->cap_nodes;
    c->npos = c->npos2;
    c->npar = c->npar2;
    c->cap_nodes = c->cap_nodes2;
    c->npos2 = tp;
    c->npar2 = tq;
    c->cap_nodes2 = tc;
    c->n_nodes = k;
    memmove(c->stk, c->stk + from, (size_t)n * sizeof *c->stk);
    c->n_cur = n;
    c->n_stk = n;
    return true;
}

void tk_constraint_reset(tk_constraint *c)
{
    const tk_grammar *g = c->g;
    c->n_nodes = 0;
    c->n_stk = 0;
    c->overflow = false;
    for (int32_t a = g->alt_first[g->root]; a < g->alt_first[g->root + 1]; a++)
        settle(c, 0, g->alts[a], -1, 0);
    c->n_cur = c->n_stk;
}

void tk_constraint_free(tk_constraint *c)
{
    if (!c) return;
    free(c->tok_off);
    free(c->tok_bytes);
    free(c->tok_kind);
    free(c->tok_next);
    free(c->trie);
    free(c->npos);
    free(c->npar);
    free(c->npos2);
    free(c->npar2);
    free(c->stk);
    free(c->chain);
    free(c->allowed);
    free(c);
}

static int32_t trie_add(tk_constraint *c, int32_t *cap)
{
    if (c->n_trie >= *cap) {
        int32_t nc = *cap * 2;
        trie_node *v = realloc(c->trie, (size_t)nc * sizeof *v);
        if (!v) return -1;
        c->trie = v;
        *cap = nc;
    }
    c->trie[c->n_trie] = (trie_node){-1, -1, -1, 0};
    return c->n_trie++;
}

static tk_status build_vocab(tk_constraint *c)
{
    int32_t nv = c->n_vocab;
    c->tok_off = malloc((size_t)(nv + 1) * sizeof *c->tok_off);
    c->tok_kind = calloc((size_t)nv, 1);
    c->tok_next = malloc((size_t)nv * sizeof *c->tok_next);
    c->allowed = calloc((size_t)nv, 1);
    size_t cap = 1 << 16, used = 0;
    c->tok_bytes = malloc(cap);
    int32_t tcap = 1024;
    c->trie = malloc((size_t)tcap * sizeof *c->trie);
    if (!c->tok_off || !c->tok_kind || !c->tok_next || !c->allowed || !c->tok_bytes || !c->trie)
        return TK_ERR_NOMEM;
    c->n_trie = 0;
    trie_add(c, &tcap); /* root */
    char buf[1024];
    for (int32_t id = 0; id < nv; id++) {
        c->tok_off[id] = (int64_t)used;
        c->tok_next[id] = -1;
        if (tk_token_is_eog(c->tok, id)) {
            c->tok_kind[id] = 2;
            continue;
        }
        if (tk_token_is_special(c->tok, id)) continue;
        tk_token_type ty = tk_token_get_type(c->tok, id);
        if (ty == TK_TOKEN_UNUSED || ty == TK_TOKEN_CONTROL || ty == TK_TOKEN_UNKNOWN) continue;
        size_t len = 0;
        if (tk_token_piece(c->tok, id, false, buf, sizeof buf, &len) != TK_OK || len == 0)
            continue;
        if (used + len > cap) {
            while (used + len > cap) cap *= 2;
            uint8_t *nb = realloc(c->tok_bytes, cap);
            if (!nb) return TK_ERR_NOMEM;
            c->tok_bytes = nb;
        }
        memcpy(c->tok_bytes + used, buf, len);
        used += len;
        c->tok_kind[id] = 1;
        /* insert into the trie */
        int32_t node = 0;
        for (size_t i = 0; i < len; i++) {
            uint8_t by = (uint8_t)buf[i];
            int32_t ch = c->trie[node].child, prev = -1;
            while (ch >= 0 && c->trie[ch].byte < by) {
                prev = ch;
                ch = c->trie[ch].sibling;
            }
            if (ch < 0 || c->trie[ch].byte != by) {
                int32_t nn = trie_add(c, &tcap);
                if (nn < 0) return TK_ERR_NOMEM;
                c->trie[nn].byte = by;
                c->trie[nn].sibling = ch;
                if (prev < 0) c->trie[node].child = nn;
                else c->trie[prev].sibling = nn;
                ch = nn;
            }
            node = ch;
        }
        c->tok_next[id] = c->trie[node].tokens;
        c->trie[node].tokens = id;
    }
    c->tok_off[nv] = (int64_t)used;
    return TK_OK;
}

tk_status tk_constraint_create(const tk_grammar *g, const tk_tokenizer *t, tk_constraint **out)
{
    *out = NULL;
    if (!g) return TK_ERR_INVALID_ARG;
    tk_constraint *c = calloc(1, sizeof *c);
    if (!c) return TK_ERR_NOMEM;
    c->g = g;
    c->tok = t;
    c->n_vocab = t ? tk_tokenizer_n_vocab(t) : 0;
    tk_status st = t ? build_vocab(c) : TK_OK;
    if (st != TK_OK) {
        tk_constraint_free(c);
        return st;
    }
    tk_constraint_reset(c);
    if (c->oom) {
        tk_constraint_free(c);
        return TK_ERR_NOMEM;
    }
    *out = c;
    return TK_OK;
}

/* Marks the tokens under trie node `tn` whose bytes keep a stack alive;
 * the stacks after the bytes so far are stk[a .. b). */
static int32_t walk(tk_constraint *c, int32_t tn, int32_t a, int32_t b)
{
    int32_t count = 0;
    for (int32_t ch = c->trie[tn].child; ch >= 0; ch = c->trie[ch].sibling) {
        int32_t mark_nodes = c->n_nodes, mark_stk = c->n_stk;
        if (advance(c, a, b, c->trie[ch].byte) && c->n_stk > mark_stk) {
            for (int32_t id = c->trie[ch].tokens; id >= 0; id = c->tok_next[id]) {
                c->allowed[id] = 1;
                count++;
            }
            count += walk(c, ch, mark_stk, c->n_stk);
        }
        c->overflow = false;
        c->n_stk = mark_stk;
        c->n_nodes = mark_nodes;
    }
    return count;
}

int32_t tk_constraint_apply(tk_constraint *c, float *logits)
{
    if (!c->tok) return 0;
    memset(c->allowed, 0, (size_t)c->n_vocab);
    int32_t n_nodes = c->n_nodes;
    int32_t count = walk(c, 0, 0, c->n_cur);
    c->n_nodes = n_nodes;
    c->n_stk = c->n_cur;
    bool done = is_complete(c);
    for (int32_t id = 0; id < c->n_vocab; id++) {
        if (c->tok_kind[id] == 2 && done) {
            c->allowed[id] = 1;
            count++;
        }
        if (!c->allowed[id]) logits[id] = -INFINITY;
    }
    return count;
}

/* Runs the token's bytes; on success the new set is at stk[*from .. n_stk). */
static bool run_token(tk_constraint *c, int32_t token, int32_t *from)
{
    int32_t a = 0, b = c->n_cur;
    const uint8_t *p = c->tok_bytes + c->tok_off[token];
    int64_t len = c->tok_off[token + 1] - c->tok_off[token];
    for (int64_t i = 0; i < len; i++) {
        int32_t start = c->n_stk;
        if (!advance(c, a, b, p[i]) || c->n_stk == start) return false;
        a = start;
        b = c->n_stk;
    }
    *from = a;
    return true;
}

bool tk_constraint_allows(tk_constraint *c, int32_t token)
{
    if (token < 0 || token >= c->n_vocab) return false;
    if (c->tok_kind[token] == 2) return is_complete(c);
    if (c->tok_kind[token] != 1) return false;
    int32_t n_nodes = c->n_nodes, from;
    bool ok = run_token(c, token, &from);
    c->n_nodes = n_nodes;
    c->n_stk = c->n_cur;
    c->overflow = false;
    return ok;
}

tk_status tk_constraint_accept(tk_constraint *c, int32_t token)
{
    if (token < 0 || token >= c->n_vocab) return TK_ERR_INVALID_ARG;
    if (c->tok_kind[token] == 2) return is_complete(c) ? TK_OK : TK_ERR_INVALID_ARG;
    if (c->tok_kind[token] != 1) return TK_ERR_INVALID_ARG;
    int32_t n_nodes = c->n_nodes, from;
    if (!run_token(c, token, &from)) {
        c->n_nodes = n_nodes;
        c->n_stk = c->n_cur;
        bool oom = c->oom;
        c->overflow = c->oom = false;
        return oom ? TK_ERR_NOMEM : TK_ERR_INVALID_ARG;
    }
    if (!commit(c, from)) {
        c->oom = false;
        return TK_ERR_NOMEM; /* the state is lost: the caller ends the answer */
    }
    return TK_OK;
}

tk_status tk_constraint_accept_bytes(tk_constraint *c, const char *bytes, size_t len)
{
    int32_t n_nodes = c->n_nodes, a = 0, b = c->n_cur;
    for (size_t i = 0; i < len; i++) {
        int32_t start = c->n_stk;
        if (!advance(c, a, b, (uint8_t)bytes[i]) || c->n_stk == start) {
            c->n_nodes = n_nodes;
            c->n_stk = c->n_cur;
            c->overflow = c->oom = false;
            return TK_ERR_INVALID_ARG;
        }
        a = start;
        b = c->n_stk;
    }
    if (len == 0) return TK_OK;
    return commit(c, a) ? TK_OK : TK_ERR_NOMEM;
}

bool tk_constraint_complete(const tk_constraint *c, bool *must_end)
{
    bool any = false, all = c->n_cur > 0;
    for (int32_t i = 0; i < c->n_cur; i++) {
        if (c->stk[i].top < 0) any = true;
        else all = false;
    }
    if (must_end) *must_end = all;
    return any;
}
