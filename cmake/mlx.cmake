# Apple's MLX through its C API (mlx-c), for the MLX backend (src/backend/mlx/).
#
#   -DTEKTRA_MLX=AUTO|ON|OFF   AUTO (default): build the backend when mlx-c is
#                              found; ON: fail when it is not; OFF: never.
#   -DTEKTRA_MLX_PREFIX=DIR    where mlx-c is installed (DIR/include/mlx/c/mlx.h,
#                              DIR/lib/libmlxc.*); otherwise the usual places
#                              (Homebrew's /opt/homebrew, /usr/local, /usr).
#
# Sets TEKTRA_HAVE_MLX (0/1) and, when 1, the imported target tk::mlxc.
# scripts/mlx.sh builds MLX and mlx-c from ../shared/deps/mlx and prints a
# prefix for TEKTRA_MLX_PREFIX.
set(TEKTRA_MLX AUTO CACHE STRING
    "Build the MLX backend (Apple's MLX C API): AUTO (when mlx-c is found), ON or OFF")
set_property(CACHE TEKTRA_MLX PROPERTY STRINGS AUTO ON OFF)
set(TEKTRA_MLX_PREFIX "" CACHE PATH "Install prefix of mlx-c (include/mlx/c, lib/libmlxc)")

set(TEKTRA_HAVE_MLX 0)
string(TOUPPER "${TEKTRA_MLX}" _tk_mlx)
if(NOT _tk_mlx MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "TEKTRA_MLX must be AUTO, ON or OFF (got '${TEKTRA_MLX}')")
endif()

if(NOT _tk_mlx STREQUAL "OFF")
    # Searched anew on every configure, so a changed prefix takes effect.
    unset(TK_MLXC_INCLUDE_DIR CACHE)
    unset(TK_MLXC_LIBRARY CACHE)
    if(TEKTRA_MLX_PREFIX)
        find_path(TK_MLXC_INCLUDE_DIR mlx/c/mlx.h PATHS ${TEKTRA_MLX_PREFIX}/include
                  NO_DEFAULT_PATH)
        find_library(TK_MLXC_LIBRARY mlxc PATHS ${TEKTRA_MLX_PREFIX}/lib NO_DEFAULT_PATH)
    else()
        find_path(TK_MLXC_INCLUDE_DIR mlx/c/mlx.h PATHS /opt/homebrew/include /usr/local/include)
        find_library(TK_MLXC_LIBRARY mlxc PATHS /opt/homebrew/lib /usr/local/lib)
    endif()

    set(_tk_mlx_ok FALSE)
    set(_tk_mlx_why "")
    if(TK_MLXC_INCLUDE_DIR AND TK_MLXC_LIBRARY)
        set(_tk_mlx_ok TRUE)
    else()
        set(_tk_mlx_why "mlx-c not found (mlx/c/mlx.h: ${TK_MLXC_INCLUDE_DIR}; libmlxc: \
${TK_MLXC_LIBRARY}); set TEKTRA_MLX_PREFIX or run scripts/mlx.sh")
    endif()

    # On macOS MLX runs on Metal: it needs the Metal, Foundation and QuartzCore
    # frameworks (and Accelerate) when libmlx is static; a shared libmlxc from
    # Homebrew brings them itself. MLX exists for arm64 only: in a universal
    # build (CMAKE_OSX_ARCHITECTURES "arm64;x86_64") the backend is compiled
    # for the arm64 slice only (TEKTRA_HAVE_MLX is guarded by __aarch64__ in
    # the sources, and libmlxc is linked with -Xarch_arm64).
    set(_tk_mlx_frameworks "")
    set(_tk_mlx_universal FALSE)
    if(_tk_mlx_ok AND APPLE)
        if(CMAKE_OSX_ARCHITECTURES)
            if(NOT "arm64" IN_LIST CMAKE_OSX_ARCHITECTURES)
                set(_tk_mlx_ok FALSE)
                set(_tk_mlx_why "MLX needs arm64 (CMAKE_OSX_ARCHITECTURES is ${CMAKE_OSX_ARCHITECTURES})")
            else()
                list(LENGTH CMAKE_OSX_ARCHITECTURES _n_arch)
                if(_n_arch GREATER 1)
                    set(_tk_mlx_universal TRUE)
                endif()
            endif()
        elseif(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "arm64|aarch64")
            set(_tk_mlx_ok FALSE)
            set(_tk_mlx_why "MLX needs an arm64 build (this is ${CMAKE_SYSTEM_PROCESSOR})")
        endif()
        foreach(fw Metal Foundation QuartzCore Accelerate)
            find_library(TK_FW_${fw} ${fw})
            if(TK_FW_${fw})
                list(APPEND _tk_mlx_frameworks ${TK_FW_${fw}})
            elseif(_tk_mlx_ok)
                set(_tk_mlx_ok FALSE)
                set(_tk_mlx_why "the ${fw} framework was not found (install the Xcode command \
line tools: xcode-select --install)")
            endif()
        endforeach()
    endif()

    if(_tk_mlx_ok)
        set(TEKTRA_HAVE_MLX 1)
        add_library(tk_mlxc INTERFACE)
        add_library(tk::mlxc ALIAS tk_mlxc)
        # A system include: mlx-c's headers are not written for -Wpedantic.
        target_include_directories(tk_mlxc SYSTEM INTERFACE ${TK_MLXC_INCLUDE_DIR})
        get_filename_component(_tk_mlx_libdir ${TK_MLXC_LIBRARY} DIRECTORY)
        if(_tk_mlx_universal)
            target_link_options(tk_mlxc INTERFACE "SHELL:-Xarch_arm64 ${TK_MLXC_LIBRARY}"
                                "SHELL:-Xarch_arm64 -Wl,-rpath,${_tk_mlx_libdir}")
        else()
            target_link_libraries(tk_mlxc INTERFACE ${TK_MLXC_LIBRARY})
            target_link_options(tk_mlxc INTERFACE "-Wl,-rpath,${_tk_mlx_libdir}")
        endif()
        if(_tk_mlx_frameworks)
            target_link_libraries(tk_mlxc INTERFACE ${_tk_mlx_frameworks})
        endif()
        message(STATUS "MLX backend: on (mlx-c: ${TK_MLXC_LIBRARY})")
    elseif(_tk_mlx STREQUAL "ON")
        message(FATAL_ERROR "TEKTRA_MLX=ON but ${_tk_mlx_why}")
    else()
        message(STATUS "MLX backend: off (${_tk_mlx_why})")
    endif()
else()
    message(STATUS "MLX backend: off (TEKTRA_MLX=OFF)")
endif()
