/* Dot-product kernels (ARMv8.2 SDOT: Apple M1+, Graviton2+, Cortex-A76+)
 * of Q2_K .. Q6_K, IQ4_XS and the MLX affine types, installed by the
 * dotprod level's fill function. The packed layouts, the two paths and the
 * float arithmetic are in kernels_kq_arm.h: one SDOT by lane multiplies a
 * quarter of a k-group vector (4 rows x 4 bytes) by 4 activation bytes. */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

#define KQ_LEVEL 1
#include "kernels/kernels_kq_arm.h"

KQ_DEFINE_FILL(kq_batch_sdot)

void kernels_fill_kq_dotprod(kernels_t *k)
{
    kq_fill(k);
}

#endif
