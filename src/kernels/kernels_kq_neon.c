/* NEON kernels (ARMv8.0 Advanced SIMD, every AArch64 CPU) of Q2_K .. Q6_K,
 * IQ4_XS and the MLX affine types, installed by the neon level's fill
 * function. The packed layouts, the two paths and the float arithmetic are
 * in kernels_kq_arm.h; without a dot product instruction, bytes are
 * multiplied with vmull_s8 / vmlal_s8 into 16 bits and summed per row with
 * pairwise widening adds. */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

#define KQ_LEVEL 0
#include "kernels/kernels_kq_arm.h"

KQ_DEFINE_FILL(kq_batch_sdot)

void kernels_fill_kq_neon(kernels_t *k)
{
    kq_fill(k);
}

#endif
