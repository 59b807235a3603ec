# `cmake --install` puts working programs in PREFIX/bin.
add_test(NAME test_install
    COMMAND ${CMAKE_COMMAND} -DBUILD=${CMAKE_BINARY_DIR}
        -DPREFIX=${CMAKE_CURRENT_BINARY_DIR}/install-prefix
        -P ${CMAKE_CURRENT_SOURCE_DIR}/install/check.cmake)
set_tests_properties(test_install PROPERTIES LABELS e2e TIMEOUT 120)
