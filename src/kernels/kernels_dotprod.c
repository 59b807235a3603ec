/* AArch64 kernels of the dotprod level: SDOT (FEAT_DotProd, ARMv8.2: Apple
 * M1, Cortex-A76/A55 and later, Neoverse N1 / Graviton2 and later); built
 * with -march=armv8.2-a+dotprod by cmake/isa.cmake, chosen by dispatch.c
 * only when the CPU has it. The kernels are kernels_arm.h's; this file
 * gives them their 8-bit dot product: one SDOT multiplies 4 rows by 4
 * activation bytes (16 multiply-adds into 4 lanes, exact in 32 bits). */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

#include <arm_neon.h>
#include <stdbool.h>

/* acc + the dots of 4 rows by 32 columns (see kernels_arm.h). */
static inline int32x4_t dot_q8x32(int32x4_t acc, const int8x16_t w[8], int8x16_t x0, int8x16_t x1,
                                  bool small)
{
    (void)small;
    acc = vdotq_laneq_s32(acc, w[0], x0, 0);
    acc = vdotq_laneq_s32(acc, w[1], x0, 1);
    acc = vdotq_laneq_s32(acc, w[2], x0, 2);
    acc = vdotq_laneq_s32(acc, w[3], x0, 3);
    acc = vdotq_laneq_s32(acc, w[4], x1, 0);
    acc = vdotq_laneq_s32(acc, w[5], x1, 1);
    acc = vdotq_laneq_s32(acc, w[6], x1, 2);
    return vdotq_laneq_s32(acc, w[7], x1, 3);
}

#define ARM_I8MM 0
#include "kernels/kernels_arm.h"

void kernels_fill_dotprod(kernels_t *k)
{
    k->level = TK_LEVEL_DOTPROD;
    k->name = "dotprod";
    fill_arm(k);
    kernels_fill_kq_dotprod(k);
}

#endif
