#include "kernels/kernels.h"

void kernels_fill_kq_i8mm(kernels_t *k)
{
    (void)k; /* filled by the k-quant kernels */
}
