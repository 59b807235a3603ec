#include "kernels/kernels.h"

void kernels_fill_kq_dotprod(kernels_t *k)
{
    (void)k; /* filled by the k-quant kernels */
}
