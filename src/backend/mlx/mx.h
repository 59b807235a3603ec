/* A thin layer over mlx-c for building one forward pass: every array an
 * operation makes is kept in the builder's list and freed together, and
 * errors are sticky - after the first failed operation the others return
 * empty arrays and the builder remembers the first message, so a forward
 * pass is written as straight-line code and checked once.
 *
 * mlx-c reports errors through a process-wide handler (the default prints
 * and calls exit()); mx_init() installs ours, which keeps the message for
 * the calling thread. Only compiled with MLX (TEKTRA_HAVE_MLX). */
#ifndef TK_BACKEND_MLX_MX_H
#define TK_BACKEND_MLX_MX_H

#include "tektra/core.h"

#include <mlx/c/mlx.h>

/* Installs the error handler (once per process; thread-safe). */
void mx_init(void);

/* The message of the last MLX error on this thread ("" when none), and
 * clearing it. */
const char *mx_last_error(void);
void mx_clear_error(void);

/* Status `code` with the message "`what`: MLX: <MLX's message>". */
tk_status mx_status(tk_status code, const char *what);

typedef struct mx {
    mlx_stream s;   /* where the operations run (borrowed) */
    mlx_array *tmp; /* [cap] arrays made since the last mx_release */
    int n, cap;
    bool failed;
} mx;

/* Starts a builder on stream `s`; clears this thread's error. */
void mx_begin(mx *x, mlx_stream s);
/* Frees every array the builder made (arrays taken with mx_take_out are
 * not among them). */
void mx_release(mx *x);
/* Frees the list itself too. */
void mx_free(mx *x);
/* Removes `a` from the builder's list: the caller now owns it. */
mlx_array mx_take_out(mx *x, mlx_array a);
/* Records the result of an mlx-c call: `rc` non-zero marks the builder
 * failed; `a` is kept for mx_release either way. */
mlx_array mx_keep(mx *x, int rc, mlx_array a);

/* Operations: results belong to the builder. */
mlx_array mx_scalar(mx *x, float v);
mlx_array mx_from(mx *x, const void *data, const int *shape, int ndim, mlx_dtype dtype);
mlx_array mx_astype(mx *x, mlx_array a, mlx_dtype t);
mlx_array mx_add(mx *x, mlx_array a, mlx_array b);
mlx_array mx_mul(mx *x, mlx_array a, mlx_array b);
mlx_array mx_matmul(mx *x, mlx_array a, mlx_array b);
mlx_array mx_tanh(mx *x, mlx_array a);
mlx_array mx_sigmoid(mx *x, mlx_array a);
mlx_array mx_softmax_last(mx *x, mlx_array a);
mlx_array mx_where(mx *x, mlx_array cond, mlx_array a, mlx_array b);
mlx_array mx_reshape(mx *x, mlx_array a, const int *shape, int ndim);
mlx_array mx_transpose(mx *x, mlx_array a, const int *axes, int ndim);
mlx_array mx_take(mx *x, mlx_array a, mlx_array idx, int axis);
mlx_array mx_slice(mx *x, mlx_array a, const int *start, const int *stop, int ndim);
mlx_array mx_slice_update(mx *x, mlx_array src, mlx_array upd, const int *start, const int *stop,
                          int ndim);
mlx_array mx_zeros(mx *x, const int *shape, int ndim, mlx_dtype t);
mlx_array mx_rms_norm(mx *x, mlx_array a, mlx_array w, float eps);
mlx_array mx_rope(mx *x, mlx_array a, int dims, float base, float scale, int offset);
mlx_array mx_sdpa(mx *x, mlx_array q, mlx_array k, mlx_array v, float scale, const char *mode,
                  mlx_array mask);
mlx_array mx_qmatmul(mx *x, mlx_array a, mlx_array w, mlx_array scales, mlx_array biases, int group,
                     int bits);
mlx_array mx_dequantize(mx *x, mlx_array w, mlx_array scales, mlx_array biases, int group,
                        int bits);

/* Evaluates the `n` arrays together (one graph evaluation). */
bool mx_eval(mx *x, const mlx_array *arrays, int n);

#endif
