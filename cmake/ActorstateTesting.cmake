# actorstate_discover_tests(<target> PREFIX <prefix> LABELS <label>... [TIMEOUT <s>])
# doctest_discover_tests for a test binary whose cases carry several ctest labels: doctest_discover_tests cannot pass
# a list-valued property, and the case names are only known at ctest time, so a script included after the discovered
# list sets the labels.
function(actorstate_discover_tests target)
  cmake_parse_arguments(ARG "" "PREFIX;TIMEOUT" "LABELS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 1500)
  endif()
  doctest_discover_tests(${target} TEST_PREFIX "${ARG_PREFIX}" TEST_LIST ${target}_TESTS
    PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  set(labels_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_labels.cmake")
  # Written as "a;b", the way CMake writes a list-valued LABELS into CTestTestfile.cmake: escaped ("a\;b") it would be
  # one label called "a;b".
  set(labels "${ARG_LABELS}")
  file(WRITE "${labels_file}"
    "if(${target}_TESTS)\n"
    "  set_tests_properties(\${${target}_TESTS} PROPERTIES LABELS \"${labels}\")\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_file}")
endfunction()
