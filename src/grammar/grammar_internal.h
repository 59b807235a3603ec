/* The compiled form of a grammar, shared by the parser and the constraint.
 *
 * Every rule is a list of alternatives; every alternative is a run of
 * elements in `elems` ending with GE_END. An element matches one byte
 * (GE_BYTE), one UTF-8 character of a class (GE_SET), or a rule (GE_REF).
 * Repetitions and groups are compiled into synthetic rules, so the matcher
 * only knows these four kinds. Left recursion is refused by the parser, so
 * expanding rules without consuming input always terminates. */
#ifndef TEKTRA_GRAMMAR_INTERNAL_H
#define TEKTRA_GRAMMAR_INTERNAL_H

#include "tektra/grammar.h"

#include <stdint.h>

enum { GE_END = 0, GE_BYTE = 1, GE_SET = 2, GE_REF = 3 };

typedef struct g_elem {
    uint8_t kind;
    int32_t v; /* the byte, the set index or the rule index */
} g_elem;

typedef struct g_range {
    uint32_t lo, hi;
} g_range;

typedef struct g_set {
    int32_t first, n; /* ranges[first .. first+n) */
    bool negate;
} g_set;

struct tk_grammar {
    g_elem *elems;
    int32_t n_elems;
    int32_t *alt_first; /* [n_rules + 1]: alternatives of rule r are alts[alt_first[r] ..] */
    int32_t *alts;      /* start element of each alternative */
    int32_t n_rules;
    g_set *sets;
    int32_t n_sets;
    g_range *ranges;
    int32_t n_ranges;
    int32_t root;
};

/* Whether codepoint `cp` is in set `s`. */
bool g_set_has(const tk_grammar *g, int32_t s, uint32_t cp);
/* Whether some codepoint in [lo, hi] is in set `s`. */
bool g_set_meets(const tk_grammar *g, int32_t s, uint32_t lo, uint32_t hi);

#endif
