/* tektra grammars: constrained decoding.
 *
 * A grammar is a set of rules in tektra's own grammar language (documented
 * in docs/grammar.md): rules `name ::= alternatives`, string literals
 * "...", character classes [a-z] / [^"\\], grouping ( ), repetition * + ?
 * and {m,n}, comments with #. The rule named `root` is the start. JSON
 * schemas compile to that language (tk_json_schema_to_grammar), so a
 * schema, a json_object answer and a tool call are all one grammar.
 *
 * A constraint follows one grammar over one tokenizer's vocabulary: before
 * each draw it masks every token whose bytes would leave the grammar; after
 * the draw it advances by the chosen token. */
#ifndef TEKTRA_GRAMMAR_H
#define TEKTRA_GRAMMAR_H

#include "tektra/core.h"
#include "tektra/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tk_grammar tk_grammar;

/* Parses grammar text (NUL-terminated). On error returns
 * TK_ERR_INVALID_ARG (or TK_ERR_NO_MEMORY) and writes a message naming the
 * line, column and problem into err[errlen] (err may be NULL). */
tk_status tk_grammar_parse(const char *text, tk_grammar **out, char *err, size_t errlen);
void tk_grammar_free(tk_grammar *g);

/* The grammar text of a JSON schema (NUL-terminated JSON text). Every rule
 * name it defines starts with `prefix` (NULL or "" = none), and the rule
 * `<prefix>root` matches exactly the JSON values the schema accepts (with
 * the whitespace a model usually writes). When `prefix` is NULL or "",
 * the result is a complete grammar whose `root` is the schema. A keyword
 * that cannot be enforced is TK_ERR_UNSUPPORTED with the keyword named in
 * err; a bad schema is TK_ERR_INVALID_ARG. *out is freed with free(). */
tk_status tk_json_schema_to_grammar(const char *schema_json, const char *prefix, char **out,
                                    char *err, size_t errlen);

/* The grammar text of "any one JSON object" (response_format json_object),
 * with rule names starting with `prefix` as above. *out is freed with free(). */
tk_status tk_json_object_grammar(const char *prefix, char **out);

typedef struct tk_constraint tk_constraint;

/* A constraint for `g` (borrowed; must outlive the constraint) over the
 * vocabulary of `t` (borrowed). Token byte strings are taken from the
 * tokenizer once and kept in a trie (one per constraint for now). `t` may
 * be NULL: a byte-level matcher (tk_constraint_accept_bytes) with no
 * vocabulary. End-of-generation tokens are allowed exactly
 * when the grammar is complete. */
tk_status tk_constraint_create(const tk_grammar *g, const tk_tokenizer *t, tk_constraint **out);
void tk_constraint_free(tk_constraint *c);

/* Sets logits[id] = -INFINITY for every token not allowed next
 * (logits has n_vocab entries). Returns the number of tokens still allowed
 * (0 = dead end: the grammar cannot be continued). */
int32_t tk_constraint_apply(tk_constraint *c, float *logits);

/* Advances by `token`, which must have been allowed. TK_ERR_INVALID_ARG
 * when it was not (the state is then unchanged). */
tk_status tk_constraint_accept(tk_constraint *c, int32_t token);

/* True when the text so far is a complete sentence of the grammar, and
 * true in *must_end (may be NULL) when nothing more can follow. */
bool tk_constraint_complete(const tk_constraint *c, bool *must_end);

/* Whether `token` may come next (cheap: runs only its bytes). Lets a caller
 * sample first and mask only when the sampled token is refused. */
bool tk_constraint_allows(tk_constraint *c, int32_t token);

/* Advances by raw bytes (any split of UTF-8 characters), e.g. to test a
 * grammar or to follow text forced by the caller. TK_ERR_INVALID_ARG (state
 * unchanged) when the grammar refuses them. */
tk_status tk_constraint_accept_bytes(tk_constraint *c, const char *bytes, size_t len);

/* Back to the start of the grammar. */
void tk_constraint_reset(tk_constraint *c);

#ifdef __cplusplus
}
#endif
#endif
