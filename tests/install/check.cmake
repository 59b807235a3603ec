# Installs the build at BUILD into PREFIX (emptied first) and runs the
# installed programs: tektra --version and test_platform must work from
# PREFIX/bin on their own.
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${PREFIX}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cmake --install failed (${rc}): ${out}${err}")
endif()
include(GNUInstallDirs)
foreach(prog tektra test_platform)
    if(NOT EXISTS ${PREFIX}/${CMAKE_INSTALL_BINDIR}/${prog})
        message(FATAL_ERROR "not installed: ${PREFIX}/${CMAKE_INSTALL_BINDIR}/${prog}\n${out}")
    endif()
endforeach()
execute_process(COMMAND ${PREFIX}/${CMAKE_INSTALL_BINDIR}/tektra --version
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "^tektra [0-9]")
    message(FATAL_ERROR "installed tektra --version: exit ${rc}: ${out}${err}")
endif()
execute_process(COMMAND ${PREFIX}/${CMAKE_INSTALL_BINDIR}/test_platform
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "Current platform:")
    message(FATAL_ERROR "installed test_platform: exit ${rc}: ${out}${err}")
endif()
file(REMOVE_RECURSE ${PREFIX})
message(STATUS "installed and ran tektra and test_platform from ${PREFIX}")
