/* AArch64 kernels of the neon level: Advanced SIMD only, every AArch64 CPU
 * (Cortex-A53/A55/A72, Raspberry Pi 3 and 4, Graviton1); built with the
 * baseline flags, chosen by dispatch.c. The kernels are kernels_arm.h's;
 * this file gives them their 8-bit dot product.
 *
 * Without SDOT, bytes are multiplied with SMULL/SMLAL (8 x 8 -> 16 bits, 8
 * lanes) and widened with SADALP (pairs of 16-bit lanes added into 32
 * bits). Values below 32 (the 4- and 5-bit types) let all 8 k-groups of a
 * 32-column block be summed in 16 bits (8 * 31 * 127 < 32768); signed
 * 8-bit values (Q8_0, IQ4_NL: |w| <= 128) two at a time (2 * 128 * 127). */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

#include <arm_neon.h>
#include <stdbool.h>

/* k-group g's 4 activation bytes in every 32-bit lane. */
#define BCAST(x, lane) vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), lane))

/* lo: rows 0-1 (8 products), hi: rows 2-3, for k-group g. */
#define MUL_FIRST(g, x, lane)                                                                      \
    do {                                                                                           \
        const int8x16_t xb = BCAST(x, lane);                                                       \
        lo = vmull_s8(vget_low_s8(w[g]), vget_low_s8(xb));                                         \
        hi = vmull_high_s8(w[g], xb);                                                              \
    } while (0)
#define MUL_NEXT(g, x, lane)                                                                       \
    do {                                                                                           \
        const int8x16_t xb = BCAST(x, lane);                                                       \
        lo = vmlal_s8(lo, vget_low_s8(w[g]), vget_low_s8(xb));                                     \
        hi = vmlal_high_s8(hi, w[g], xb);                                                          \
    } while (0)
#define WIDEN()                                                                                    \
    do {                                                                                           \
        plo = vpadalq_s16(plo, lo);                                                                \
        phi = vpadalq_s16(phi, hi);                                                                \
    } while (0)

/* acc + the dots of 4 rows by 32 columns (see kernels_arm.h). */
static inline int32x4_t dot_q8x32(int32x4_t acc, const int8x16_t w[8], int8x16_t x0, int8x16_t x1,
                                  bool small)
{
    int16x8_t lo, hi;
    int32x4_t plo = vdupq_n_s32(0), phi = vdupq_n_s32(0);
    if (small) {
        MUL_FIRST(0, x0, 0);
        MUL_NEXT(1, x0, 1);
        MUL_NEXT(2, x0, 2);
        MUL_NEXT(3, x0, 3);
        MUL_NEXT(4, x1, 0);
        MUL_NEXT(5, x1, 1);
        MUL_NEXT(6, x1, 2);
        MUL_NEXT(7, x1, 3);
        WIDEN();
    } else {
        MUL_FIRST(0, x0, 0);
        MUL_NEXT(1, x0, 1);
        WIDEN();
        MUL_FIRST(2, x0, 2);
        MUL_NEXT(3, x0, 3);
        WIDEN();
        MUL_FIRST(4, x1, 0);
        MUL_NEXT(5, x1, 1);
        WIDEN();
        MUL_FIRST(6, x1, 2);
        MUL_NEXT(7, x1, 3);
        WIDEN();
    }
    /* plo: [r0 e0+e1, r0 e2+e3, r1 .., r1 ..], phi the same for r2, r3. */
    return vaddq_s32(acc, vpaddq_s32(plo, phi));
}

#define ARM_I8MM 0
#include "kernels/kernels_arm.h"

void kernels_fill_neon(kernels_t *k)
{
    k->level = TK_LEVEL_NEON;
    k->name = "neon";
    fill_arm(k);
    kernels_fill_kq_neon(k);
}

#endif
