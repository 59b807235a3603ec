/* The instruction set of an x86 kernel file, chosen in the code, not by the
 * build: a file's functions are compiled for the features its level needs,
 * whatever flags the whole build has. That is what lets one compiler run
 * build every x86 level (the dispatcher, dispatch.c, calls a level only on a
 * CPU that has it), and what lets a universal macOS build
 * (-DCMAKE_OSX_ARCHITECTURES="arm64;x86_64") compile the same file for both
 * slices: no -mavx2 ever reaches the arm64 compiler, and the file's own
 * `#if defined(__x86_64__) || defined(_M_X64)` makes it empty there.
 *
 * A kernel file named *_avx2.c, *_avx512.c or *_avxvnni.c (cmake/isa.cmake
 * refuses to configure otherwise) reads:
 *
 *     #include "kernels/kernels.h"       (outside the guard: never empty)
 *     #if defined(__x86_64__) || defined(_M_X64)
 *     #include "kernels/target.h"
 *     #include ...every other header it needs...
 *     TK_TARGET_BEGIN(TK_TARGET_AVX2)    (the level of its name)
 *     ...the kernels...
 *     TK_TARGET_END
 *     #endif
 *
 * Every header before TK_TARGET_BEGIN: a region's target applies to every
 * function declared inside it, system headers' too, and GCC then refuses to
 * inline a fortified memcpy (always_inline) into code without the target.
 * kernels_x86.h is the exception: it holds code of the level and is included
 * inside the region (its own includes are then already done).
 *
 * GCC: `#pragma GCC target` for the region, which also defines __AVX2__ and
 * the like inside it. Clang: `#pragma clang attribute` adds
 * __attribute__((target(...))) to each function of the region and defines
 * no feature macro, so kernel code must not test __AVX2__ and friends.
 * Either way an intrinsic used outside a region fails to compile (its
 * always_inline target does not match), it cannot slip through.
 *
 * ARM kernel files (*_dotprod.c, *_i8mm.c) keep per-file flags from
 * cmake/isa.cmake (-Xarch_arm64 in a universal build): clang before 17 only
 * declares vdotq_s32 and the i8mm intrinsics when the whole file is compiled
 * with those features (__ARM_FEATURE_DOTPROD), so a region cannot replace
 * the flags there. */
#ifndef TK_KERNELS_TARGET_H
#define TK_KERNELS_TARGET_H

#if defined(__x86_64__) || defined(_M_X64)

/* The levels' features, in GCC and clang target-attribute syntax. */
#define TK_TARGET_AVX2    "avx2,fma,f16c"
#define TK_TARGET_AVX512  "avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16,avx2,fma,f16c"
#define TK_TARGET_AVXVNNI "avxvnni,avx2,fma,f16c"

/* The intrinsics carry their own target attributes: included before any
 * region, as the rule above says. */
#include <immintrin.h>

#define TK_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define TK_TARGET_BEGIN(features)                                                                  \
    TK_PRAGMA(clang attribute push(__attribute__((target(features))), apply_to = function))
#define TK_TARGET_END TK_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define TK_TARGET_BEGIN(features) TK_PRAGMA(GCC push_options) TK_PRAGMA(GCC target(features))
#define TK_TARGET_END             TK_PRAGMA(GCC pop_options)
#else
/* MSVC compiles any intrinsic anywhere: nothing to open. */
#define TK_TARGET_BEGIN(features)
#define TK_TARGET_END
#endif

#endif /* x86 */

#endif
