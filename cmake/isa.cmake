# The instruction sets of the kernel files (src/kernels/*_<isa>.c; the
# dispatcher, src/kernels/dispatch.c, calls a level only when the CPU has
# its features).
#
# x86 (avx2, avx512, avxvnni): no flags. Each such file selects its
# instructions itself, in a target region (TK_TARGET_BEGIN(TK_TARGET_AVX2)
# ... TK_TARGET_END, src/kernels/target.h), so no x86 flag can reach another
# architecture's compiler. A file named *_<x86 isa>.c without the region of
# its level stops the configure step here, with the lines it needs.
#
# ARM (dotprod, i8mm): per-file flags, because clang's arm_neon.h (before
# clang 17) declares those intrinsics only for a file compiled with the
# features. In a build for several architectures at once (a universal macOS
# build, CMAKE_OSX_ARCHITECTURES="arm64;x86_64") each flag is given as
# -Xarch_arm64 <flag>, so it reaches the arm64 slice only; the x86_64 slice
# compiles the same file to nothing (its `#if defined(__aarch64__)`).
#
# The architectures are CMAKE_OSX_ARCHITECTURES on Apple when set, else
# CMAKE_SYSTEM_PROCESSOR.
#
# In script mode it prints a file's options, one argument per line, for the
# architectures given (scripts/macos-check.sh uses that):
#   cmake -DTK_ISA_ARCHS="arm64;x86_64" -DTK_ISA_SOURCE=src/kernels/x_dotprod.c -P cmake/isa.cmake

set(TK_ISA_X86 avx2 avx512 avxvnni)
set(TK_ISA_ARM neon dotprod i8mm)
set(TK_ISA_ARM_FLAGS_neon "")
set(TK_ISA_ARM_FLAGS_dotprod "-march=armv8.2-a+dotprod")
set(TK_ISA_ARM_FLAGS_i8mm "-march=armv8.2-a+dotprod+i8mm")

# The compile options of one source file for the architectures `archs`
# (a list), into `out`; empty for a file that is not a kernel level's. Fails
# on an x86 level's file without its target region.
function(tk_isa_options src archs out)
    set(arm FALSE)
    foreach(a IN LISTS archs)
        if(a MATCHES "^(aarch64|arm64|ARM64)$")
            set(arm TRUE)
        endif()
    endforeach()
    list(LENGTH archs n_archs)
    set(opts "")
    foreach(isa IN LISTS TK_ISA_X86)
        if(src MATCHES "_${isa}\\.c$")
            string(TOUPPER "${isa}" ISA)
            file(STRINGS "${src}" begin REGEX "^TK_TARGET_BEGIN\\(TK_TARGET_${ISA}\\)")
            file(STRINGS "${src}" end REGEX "^TK_TARGET_END")
            if(NOT begin OR NOT end)
                message(FATAL_ERROR "${src}: an x86 kernel file named *_${isa}.c selects its "
                    "instructions itself: after its includes, inside its "
                    "`#if defined(__x86_64__) || defined(_M_X64)`, it opens "
                    "`TK_TARGET_BEGIN(TK_TARGET_${ISA})` (from \"kernels/target.h\", at the "
                    "start of a line) and closes it with `TK_TARGET_END` before the `#endif` "
                    "(see src/kernels/target.h)")
            endif()
        endif()
    endforeach()
    if(arm)
        foreach(isa IN LISTS TK_ISA_ARM)
            if(src MATCHES "_${isa}\\.c$")
                foreach(f IN LISTS TK_ISA_ARM_FLAGS_${isa})
                    if(n_archs GREATER 1)
                        # One option for CMake, which would otherwise merge repeated
                        # -Xarch_arm64 into one.
                        list(APPEND opts "SHELL:-Xarch_arm64 ${f}")
                    else()
                        list(APPEND opts "${f}")
                    endif()
                endforeach()
            endif()
        endforeach()
    endif()
    set(${out} "${opts}" PARENT_SCOPE)
endfunction()

function(tk_isa_flags sources)
    if(APPLE AND CMAKE_OSX_ARCHITECTURES)
        set(archs ${CMAKE_OSX_ARCHITECTURES})
    else()
        set(archs ${CMAKE_SYSTEM_PROCESSOR})
    endif()
    foreach(src IN LISTS sources)
        tk_isa_options("${src}" "${archs}" opts)
        if(opts)
            set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${opts}")
        endif()
    endforeach()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
    tk_isa_options("${TK_ISA_SOURCE}" "${TK_ISA_ARCHS}" opts)
    foreach(o IN LISTS opts)
        string(REGEX REPLACE "^SHELL:" "" o "${o}")
        separate_arguments(words UNIX_COMMAND "${o}")
        foreach(w IN LISTS words)
            message("${w}")
        endforeach()
    endforeach()
endif()
