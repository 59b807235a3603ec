# tk_find_dep(<name> [REQUIRED] PKG <module> HEADER <file> LIBS <names...>
#             [INCLUDE_SUFFIX <dir>] [STATIC_DEFINES <defs...>])
#
# Finds a library through pkg-config (module <module>) or, when pkg-config
# or its .pc file is missing, through find_path(<file>) and
# find_library(<names>) (CMAKE_PREFIX_PATH, the toolchain's root, Homebrew's
# prefix ...); on Windows only the latter. Defines the imported target tk::<name> and TK_HAVE_<NAME>
# (ON/OFF). INCLUDE_SUFFIX also puts <include>/<dir> on the include path
# (the form pkg-config's Cflags give); STATIC_DEFINES and STATIC_LIBS are the
# compile definitions and libraries a static archive needs (the Windows
# builds of scripts/windows-deps.sh). A REQUIRED library that is not
# found stops the configuration with what to install.
find_package(PkgConfig QUIET)

function(tk_find_dep name)
    cmake_parse_arguments(D "REQUIRED" "PKG;HEADER;INCLUDE_SUFFIX" "LIBS;STATIC_DEFINES;STATIC_LIBS"
        ${ARGN})
    string(TOUPPER ${name} up)
    set(found OFF)
    # Not on Windows: the .pc files of static builds there (PCRE2's) lack the
    # definitions a static library needs, and pkg-config would offer the
    # host's libraries to a cross build.
    if(PKG_CONFIG_FOUND AND NOT WIN32)
        pkg_check_modules(TKDEP_${up} QUIET IMPORTED_TARGET GLOBAL ${D_PKG})
        if(TKDEP_${up}_FOUND)
            add_library(tk::${name} ALIAS PkgConfig::TKDEP_${up})
            set(found ON)
            set(how "pkg-config ${D_PKG} ${TKDEP_${up}_VERSION}")
        endif()
    endif()
    if(NOT found)
        # A prefix that is gone (a newer scripts/windows-deps.sh build) is
        # looked up again.
        if(TKDEP_${up}_INCLUDE_DIR AND NOT EXISTS "${TKDEP_${up}_INCLUDE_DIR}/${D_HEADER}")
            unset(TKDEP_${up}_INCLUDE_DIR CACHE)
        endif()
        if(TKDEP_${up}_LIBRARY AND NOT EXISTS "${TKDEP_${up}_LIBRARY}")
            unset(TKDEP_${up}_LIBRARY CACHE)
        endif()
        # A cross build looks only in CMAKE_PREFIX_PATH and the toolchain's
        # root, never in the host's /usr/include and /usr/lib.
        set(no_host "")
        if(CMAKE_CROSSCOMPILING)
            set(no_host NO_CMAKE_SYSTEM_PATH NO_SYSTEM_ENVIRONMENT_PATH)
        endif()
        find_path(TKDEP_${up}_INCLUDE_DIR ${D_HEADER} ${no_host})
        find_library(TKDEP_${up}_LIBRARY NAMES ${D_LIBS} ${no_host})
        if(TKDEP_${up}_INCLUDE_DIR AND TKDEP_${up}_LIBRARY)
            add_library(tk::${name} UNKNOWN IMPORTED GLOBAL)
            set(incs ${TKDEP_${up}_INCLUDE_DIR})
            if(D_INCLUDE_SUFFIX)
                list(APPEND incs ${TKDEP_${up}_INCLUDE_DIR}/${D_INCLUDE_SUFFIX})
            endif()
            set_target_properties(tk::${name} PROPERTIES
                IMPORTED_LOCATION ${TKDEP_${up}_LIBRARY}
                INTERFACE_INCLUDE_DIRECTORIES "${incs}")
            if(TKDEP_${up}_LIBRARY MATCHES "\\.a$" AND NOT TKDEP_${up}_LIBRARY MATCHES "\\.dll\\.a$")
                set_target_properties(tk::${name} PROPERTIES
                    INTERFACE_COMPILE_DEFINITIONS "${D_STATIC_DEFINES}"
                    INTERFACE_LINK_LIBRARIES "${D_STATIC_LIBS}")
            endif()
            set(found ON)
            set(how "${TKDEP_${up}_LIBRARY}")
        endif()
    endif()
    set(TK_HAVE_${up} ${found} PARENT_SCOPE)
    if(found)
        message(STATUS "${name}: ${how}")
    elseif(D_REQUIRED)
        message(FATAL_ERROR "${name} not found (pkg-config module ${D_PKG}, or header ${D_HEADER} "
            "and library ${D_LIBS} under CMAKE_PREFIX_PATH). On Debian run scripts/setup.sh; "
            "for Windows, scripts/windows-deps.sh builds it.")
    else()
        message(STATUS "${name}: not found - the commands that need it are left out")
    endif()
endfunction()
