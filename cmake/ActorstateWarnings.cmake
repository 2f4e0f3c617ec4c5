# Warnings for the project's own targets (not for generated protobuf code, which gets its own relaxed set).
function(actorstate_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
  if(ACTORSTATE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
