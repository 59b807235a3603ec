/* AArch64 kernels of the i8mm level: SDOT and SMMLA (FEAT_DotProd, FEAT_I8MM); built with its flags
 * by cmake/isa.cmake, called only when the CPU has them (dispatch.c). */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

void kernels_fill_i8mm(kernels_t *k)
{
    k->level = TK_LEVEL_I8MM;
    k->name = "i8mm";
    kernels_fill_kq_i8mm(k);
}

#endif
