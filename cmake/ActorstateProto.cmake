get_filename_component(ACTORSTATE_PROTO_ROOT "${CMAKE_CURRENT_LIST_DIR}/../proto" ABSOLUTE)

# actorstate_proto_library(<target> PROTOS <files...> [GRPC] [DEPENDS <proto targets>] [IMPORT_DIRS <dirs>])
#
# Compiles .proto files into one static library. Each .proto must be compiled into exactly one library: linking two
# generated copies of the same file aborts at start-up with a descriptor conflict. Generated headers are included
# by their path relative to the import root, e.g. "cloudstate/entity_key.pb.h".
function(actorstate_proto_library target)
  cmake_parse_arguments(ARG "GRPC" "ROOT" "PROTOS;DEPENDS;IMPORT_DIRS" ${ARGN})
  if(NOT ARG_ROOT)
    set(ARG_ROOT "${CMAKE_CURRENT_SOURCE_DIR}")
  endif()
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/gen")
  file(MAKE_DIRECTORY "${out_dir}")
  set(import_args -I "${ARG_ROOT}" -I "${Protobuf_INCLUDE_DIR}" -I "${ACTORSTATE_PROTO_ROOT}")
  foreach(dir IN LISTS ARG_IMPORT_DIRS)
    list(APPEND import_args -I "${dir}")
  endforeach()
  set(srcs)
  set(hdrs)
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(abs "${proto}" ABSOLUTE)
    file(RELATIVE_PATH rel "${ARG_ROOT}" "${abs}")
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(outs "${out_dir}/${stem}.pb.cc" "${out_dir}/${stem}.pb.h")
    set(cmd_args --cpp_out "${out_dir}")
    if(ARG_GRPC)
      list(APPEND outs "${out_dir}/${stem}.grpc.pb.cc" "${out_dir}/${stem}.grpc.pb.h")
      list(APPEND cmd_args --grpc_out "${out_dir}" "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>")
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc ${import_args} ${cmd_args} "${abs}"
      DEPENDS "${abs}" protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    foreach(o IN LISTS outs)
      if(o MATCHES "\\.cc$")
        list(APPEND srcs "${o}")
      else()
        list(APPEND hdrs "${o}")
      endif()
    endforeach()
  endforeach()
  add_library(${target} STATIC ${srcs} ${hdrs})
  target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${out_dir}>")
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf ${ARG_DEPENDS})
  if(ARG_GRPC)
    target_link_libraries(${target} PUBLIC gRPC::grpc++)
  endif()
  target_compile_options(${target} PRIVATE -w)
endfunction()

# actorstate_descriptor_set(<output> ROOT <dir> PROTOS <files...>) writes a FileDescriptorSet with all imports.
function(actorstate_descriptor_set output)
  cmake_parse_arguments(ARG "" "ROOT;TARGET" "PROTOS" ${ARGN})
  set(abs_protos)
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(abs "${proto}" ABSOLUTE)
    list(APPEND abs_protos "${abs}")
  endforeach()
  add_custom_command(
    OUTPUT "${output}"
    COMMAND protobuf::protoc -I "${ARG_ROOT}" -I "${Protobuf_INCLUDE_DIR}" -I "${ACTORSTATE_PROTO_ROOT}"
            --include_imports "--descriptor_set_out=${output}" ${abs_protos}
    DEPENDS ${abs_protos}
    VERBATIM)
  add_custom_target(${ARG_TARGET} ALL DEPENDS "${output}")
endfunction()
