# actorstate_layer(<target> EXPORT <name> SOURCES <src>...): a static library actorstate::<name> whose public
# include folder is include/ and whose src/ is private.
function(actorstate_layer target)
  cmake_parse_arguments(arg "" "EXPORT" "SOURCES" ${ARGN})
  add_library(${target} STATIC ${arg_SOURCES})
  add_library(actorstate::${arg_EXPORT} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${arg_EXPORT})
  target_include_directories(${target}
    PUBLIC
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE
      ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_features(${target} PUBLIC cxx_std_20)
  actorstate_warnings(${target})
endfunction()
