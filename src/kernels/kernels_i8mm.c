/* AArch64 kernels of the i8mm level: SDOT and SMMLA (FEAT_DotProd and
 * FEAT_I8MM, ARMv8.6: Apple M2 and later, Neoverse V1/N2 / Graviton3 and
 * later, Cortex-A710/X2); built with -march=armv8.2-a+dotprod+i8mm by
 * cmake/isa.cmake, chosen by dispatch.c only when the CPU has both.
 *
 * Generation multiplies with SDOT as the dotprod level does (one vector:
 * nothing for a matrix multiply to share). The prompt path stores each
 * decoded group as row pairs x 8 columns and multiplies with SMMLA: one
 * instruction takes 2 rows x 8 bytes and 2 vectors x 8 bytes into the 4
 * dots of the pair, 32 multiply-adds where SDOT does 16 (kernels_arm.h). */
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

#define ARM_I8MM 1
#include "kernels/kernels_arm.h"

void kernels_fill_i8mm(kernels_t *k)
{
    k->level = TK_LEVEL_I8MM;
    k->name = "i8mm";
    fill_arm(k);
    kernels_fill_kq_i8mm(k);
}

#endif
