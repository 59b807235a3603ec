/* AArch64 kernels of the dotprod level: SDOT (FEAT_DotProd); built with its flags by
 * cmake/isa.cmake, called only when the CPU has them (dispatch.c). */
#include "kernels/kernels.h" /* outside the guard: never an empty file */

#if defined(__aarch64__)

void kernels_fill_dotprod(kernels_t *k)
{
    k->level = TK_LEVEL_DOTPROD;
    k->name = "dotprod";
    kernels_fill_kq_dotprod(k);
}

#endif
