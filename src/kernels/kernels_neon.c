/* AArch64 kernels of the neon level: Advanced SIMD only (every AArch64 CPU); built with its flags
 * by cmake/isa.cmake, called only when the CPU has them (dispatch.c). */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

void kernels_fill_neon(kernels_t *k)
{
    k->level = TK_LEVEL_NEON;
    k->name = "neon";
    kernels_fill_kq_neon(k);
}

#endif
