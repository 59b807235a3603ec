/* mlx-c helpers: sticky errors and an array list per forward pass (mx.h). */
#if TEKTRA_HAVE_MLX
#include "backend/mlx/mx.h"

#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];
static _Thread_local bool have_error;

/* MLX's errors arrive here instead of exit(): the first message since the
 * last clear is kept (later ones are consequences of it). */
static void on_mlx_error(const char *msg, void *data)
{
    (void)data;
    if (have_error) return;
    core_strlcpy(last_error, msg ? msg : "(no message)", sizeof last_error);
    have_error = true;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void install(void)
{
    mlx_set_error_handler(on_mlx_error, NULL, NULL);
}

void mx_init(void)
{
    pthread_once(&init_once, install);
}

const char *mx_last_error(void)
{
    return have_error ? last_error : "";
}

void mx_clear_error(void)
{
    have_error = false;
    last_error[0] = '\0';
}

tk_status mx_status(tk_status code, const char *what)
{
    tk_status st = core_error(code, "%s: MLX: %s", what,
                              have_error ? last_error : "an operation failed without a message");
    mx_clear_error();
    return st;
}

void mx_begin(mx *x, mlx_stream s)
{
    x->s = s;
    x->failed = false;
    mx_clear_error();
}

void mx_release(mx *x)
{
    for (int i = 0; i < x->n; i++) mlx_array_free(x->tmp[i]);
    x->n = 0;
}

void mx_free(mx *x)
{
    mx_release(x);
    free(x->tmp);
    x->tmp = NULL;
    x->cap = 0;
}

mlx_array mx_take_out(mx *x, mlx_array a)
{
    for (int i = x->n - 1; i >= 0; i--) {
        if (x->tmp[i].ctx == a.ctx) {
            x->tmp[i] = x->tmp[--x->n];
            break;
        }
    }
    return a;
}

mlx_array mx_keep(mx *x, int rc, mlx_array a)
{
    if (rc != 0) x->failed = true;
    if (x->n == x->cap) {
        /* Grows to the size of the largest pass once, then stays. */
        int cap = x->cap ? 2 * x->cap : 256;
        mlx_array *t = realloc(x->tmp, (size_t)cap * sizeof *t);
        if (!t) {
            mlx_array_free(a);
            x->failed = true;
            if (!have_error) {
                core_strlcpy(last_error, "out of memory", sizeof last_error);
                have_error = true;
            }
            return mlx_array_new();
        }
        x->tmp = t;
        x->cap = cap;
    }
    x->tmp[x->n++] = a;
    return a;
}

/* Each operation: skipped once the builder has failed (an empty array). */
#define MX_OP(call)                                                                                \
    mlx_array r = mlx_array_new();                                                                 \
    if (x->failed) return mx_keep(x, 0, r);                                                        \
    return mx_keep(x, (call), r)

mlx_array mx_scalar(mx *x, float v)
{
    return mx_keep(x, 0, mlx_array_new_float32(v));
}

mlx_array mx_from(mx *x, const void *data, const int *shape, int ndim, mlx_dtype dtype)
{
    return mx_keep(x, 0, mlx_array_new_data(data, shape, ndim, dtype));
}

mlx_array mx_astype(mx *x, mlx_array a, mlx_dtype t)
{
    MX_OP(mlx_astype(&r, a, t, x->s));
}

mlx_array mx_add(mx *x, mlx_array a, mlx_array b)
{
    MX_OP(mlx_add(&r, a, b, x->s));
}

mlx_array mx_mul(mx *x, mlx_array a, mlx_array b)
{
    MX_OP(mlx_multiply(&r, a, b, x->s));
}

mlx_array mx_matmul(mx *x, mlx_array a, mlx_array b)
{
    MX_OP(mlx_matmul(&r, a, b, x->s));
}

mlx_array mx_tanh(mx *x, mlx_array a)
{
    MX_OP(mlx_tanh(&r, a, x->s));
}

mlx_array mx_sigmoid(mx *x, mlx_array a)
{
    MX_OP(mlx_sigmoid(&r, a, x->s));
}

mlx_array mx_softmax_last(mx *x, mlx_array a)
{
    MX_OP(mlx_softmax_axis(&r, a, -1, true, x->s));
}

mlx_array mx_where(mx *x, mlx_array cond, mlx_array a, mlx_array b)
{
    MX_OP(mlx_where(&r, cond, a, b, x->s));
}

mlx_array mx_reshape(mx *x, mlx_array a, const int *shape, int ndim)
{
    MX_OP(mlx_reshape(&r, a, shape, (size_t)ndim, x->s));
}

mlx_array mx_transpose(mx *x, mlx_array a, const int *axes, int ndim)
{
    MX_OP(mlx_transpose_axes(&r, a, axes, (size_t)ndim, x->s));
}

mlx_array mx_take(mx *x, mlx_array a, mlx_array idx, int axis)
{
    MX_OP(mlx_take_axis(&r, a, idx, axis, x->s));
}

static const int ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};

mlx_array mx_slice(mx *x, mlx_array a, const int *start, const int *stop, int ndim)
{
    MX_OP(mlx_slice(&r, a, start, (size_t)ndim, stop, (size_t)ndim, ones, (size_t)ndim, x->s));
}

mlx_array mx_slice_update(mx *x, mlx_array src, mlx_array upd, const int *start, const int *stop,
                          int ndim)
{
    MX_OP(mlx_slice_update(&r, src, upd, start, (size_t)ndim, stop, (size_t)ndim, ones,
                           (size_t)ndim, x->s));
}

mlx_array mx_zeros(mx *x, const int *shape, int ndim, mlx_dtype t)
{
    MX_OP(mlx_zeros(&r, shape, (size_t)ndim, t, x->s));
}

mlx_array mx_rms_norm(mx *x, mlx_array a, mlx_array w, float eps)
{
    MX_OP(mlx_fast_rms_norm(&r, a, w, eps, x->s));
}

mlx_array mx_rope(mx *x, mlx_array a, int dims, float base, float scale, int offset)
{
    mlx_optional_float b = {base, true};
    MX_OP(mlx_fast_rope(&r, a, dims, false, b, scale, offset, mlx_array_empty, x->s));
}

mlx_array mx_sdpa(mx *x, mlx_array q, mlx_array k, mlx_array v, float scale, const char *mode,
                  mlx_array mask)
{
    MX_OP(mlx_fast_scaled_dot_product_attention(&r, q, k, v, scale, mode, mask, mlx_array_empty,
                                                x->s));
}

mlx_array mx_qmatmul(mx *x, mlx_array a, mlx_array w, mlx_array scales, mlx_array biases, int group,
                     int bits)
{
    mlx_optional_int g = {group, true}, b = {bits, true};
    MX_OP(mlx_quantized_matmul(&r, a, w, scales, biases, true, g, b, "affine", x->s));
}

mlx_array mx_dequantize(mx *x, mlx_array w, mlx_array scales, mlx_array biases, int group, int bits)
{
    mlx_optional_int g = {group, true}, b = {bits, true};
    mlx_optional_dtype t = {MLX_FLOAT32, true};
    MX_OP(mlx_dequantize(&r, w, scales, biases, g, b, "affine", mlx_array_empty, t, x->s));
}

bool mx_eval(mx *x, const mlx_array *arrays, int n)
{
    if (x->failed) return false;
    mlx_vector_array v = mlx_vector_array_new_data(arrays, (size_t)n);
    int rc = mlx_eval(v);
    mlx_vector_array_free(v);
    if (rc != 0) x->failed = true;
    return rc == 0;
}
#else
typedef int mx_not_compiled; /* this build has no MLX */
#endif
