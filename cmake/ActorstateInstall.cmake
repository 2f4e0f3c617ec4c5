# Installs libactorstate with exported CMake targets, so a C++ user can
#   find_package(actorstate REQUIRED)
#   target_link_libraries(app PRIVATE actorstate::core)
include(CMakePackageConfigHelpers)

# actorstate::core is a static library: the layers it links privately are exported with it.
install(TARGETS actorstate_status actorstate_core actorstate_sdk actorstate_ops actorstate_runtime actorstate_frontend actorstate_persistence actorstate_cluster actorstate_crdt
  actorstate_options_proto actorstate_protocol_proto actorstate_reflection_proto actorstate_crdt_proto actorstate_user_function
  EXPORT actorstateTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The layers' public folders merge into one include/actorstate/ (actorstate/entity.hpp, actorstate/node.hpp, ...).
install(DIRECTORY libactorstate/status/include/ libactorstate/ops/include/ libactorstate/sdk/include/ libactorstate/runtime/include/
  libactorstate/crdt/include/ libactorstate/frontend/include/ libactorstate/node/include/ persistence/include/ proxy/user_function/include/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${CMAKE_BINARY_DIR}/proto/gen/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.pb.h")
install(DIRECTORY proto/ DESTINATION ${CMAKE_INSTALL_DATADIR}/actorstate/proto FILES_MATCHING PATTERN "*.proto")
install(EXPORT actorstateTargets NAMESPACE actorstate:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/actorstate)
install(FILES cmake/FindCAF.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/actorstate)

configure_package_config_file(cmake/actorstateConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/actorstateConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/actorstate)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/actorstateConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/actorstateConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/actorstateConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/actorstate)
