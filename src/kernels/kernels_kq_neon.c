#include "kernels/kernels.h"

void kernels_fill_kq_neon(kernels_t *k)
{
    (void)k; /* filled by the k-quant kernels */
}
