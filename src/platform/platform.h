/* Internal platform helpers, exposed for tests. */
#ifndef TK_PLATFORM_INTERNAL_H
#define TK_PLATFORM_INTERNAL_H

#include "tektra/platform.h"

/* Raw x86 cpuid/xgetbv words that decide the feature bits. */
typedef struct platform_cpuid {
    uint32_t l1_ecx;   /* leaf 1, ECX */
    uint32_t l7_ebx;   /* leaf 7 subleaf 0, EBX */
    uint32_t l7_ecx;   /* leaf 7 subleaf 0, ECX */
    uint32_t l7s1_eax; /* leaf 7 subleaf 1, EAX */
    uint64_t xcr0;     /* XGETBV(0); 0 when OSXSAVE is clear */
} platform_cpuid;

/* Feature bits from the raw words: a feature whose register state the OS
 * does not save (XCR0) is not reported, however the CPU advertises it. */
uint32_t platform_x86_features(const platform_cpuid *r);

#endif
