/* The attention step of the forward pass (model/attention.c): every query
 * token against the cached positions it sees, for one layer, on all the
 * threads of the pass.
 *
 * The cached positions of a token are cut at fixed boundaries, multiples
 * of MODEL_ATTN_CHUNK, into chunks. A token whose positions lie in one
 * chunk gets the kernel's plain attention. Otherwise each chunk gives a
 * partial softmax (max, sum, unnormalized weighted values) and the partials
 * are merged in ascending chunk order (online softmax), then divided by the
 * sum. The chunks and the order of the merge depend on the positions only,
 * never on the thread count or on how the work is shared, so the results
 * are bit-identical for any thread count and for batched or incremental
 * decoding of the same tokens.
 *
 * Two ways of sharing the work compute exactly that:
 *  - tiled (prompts): a work item is a tile of up to MODEL_ATTN_TILE
 *    tokens of one KV head; it walks the chunks in order, each chunk's keys
 *    and values serving every token of the tile while they are in cache,
 *    and keeps each token's running (max, sum, output). No score matrix
 *    beyond one chunk of one token is ever held.
 *  - split (up to MODEL_ATTN_SPLIT_MAX tokens, generation): a work item is
 *    one (token, KV head, chunk), so a long context uses every thread even
 *    with fewer KV heads than threads; the partials go to c->attn_part and
 *    are merged after a barrier.
 */
#ifndef TK_MODEL_ATTENTION_H
#define TK_MODEL_ATTENTION_H

#include "model/model.h"

#define MODEL_ATTN_CHUNK     256 /* positions per chunk (a multiple of 16) */
#define MODEL_ATTN_TILE      16  /* most tokens in a tile */
#define MODEL_ATTN_SPLIT_MAX 4   /* tokens up to which the split way is used */

/* Floats of per-thread scratch the step needs. */
size_t model_attn_scratch_floats(const tk_model *m);

/* Floats of c->attn_part for a context of n_ctx positions. */
uint64_t model_attn_part_floats(const tk_model *m, int32_t n_ctx);

/* Attention of layer il for tokens [r0, n) of the pass (positions
 * c->n_past + t), written to c->att; with `quantize`, each token's output
 * is also quantized into c->act (the caller checked that every KV group's
 * output is whole activation blocks). Called by all nth threads of the
 * pass, ith being the caller; `ctr` is a work counter at 0 that no other
 * step uses until the barrier that follows this step. May contain a
 * barrier of its own (the same for every thread). */
void model_attn_step(tk_context *c, const model_layer *l, int il, int64_t r0, int64_t n,
                     bool quantize, _Atomic int64_t *ctr, int ith, int nth);

#endif
