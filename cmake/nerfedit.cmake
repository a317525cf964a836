# Helpers that keep every target on the same flags so they can share one precompiled torch header.

set(NERFEDIT_SRC_DIR ${CMAKE_SOURCE_DIR}/src)

# One object library owns the precompiled header; every other target reuses it (torch.h costs ~20 s a file).
add_library(nerfedit_pch OBJECT ${NERFEDIT_SRC_DIR}/util/pch.cc)
target_include_directories(nerfedit_pch PUBLIC ${NERFEDIT_SRC_DIR})
target_link_libraries(nerfedit_pch PUBLIC ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json OpenMP::OpenMP_CXX)
target_compile_options(nerfedit_pch PUBLIC -fPIC -Wall -Wno-unused-parameter -Wno-sign-compare)
target_precompile_headers(nerfedit_pch PUBLIC ${NERFEDIT_SRC_DIR}/util/torch_pch.h)

# Unity builds (`make` turns them on; a plain cmake configure leaves them off, so editing one file recompiles one
# file): each target's sources are compiled NERFEDIT_UNITY_BATCH at a time as one translation unit, which shares
# the template instantiations and inline code LibTorch's headers bring into every file.
option(NERFEDIT_UNITY "compile each target's sources in batches (faster clean builds, slower incremental ones)" OFF)
set(NERFEDIT_UNITY_BATCH 8 CACHE STRING "source files per unity batch")

function(nerfedit_common target)
  if(NERFEDIT_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${NERFEDIT_UNITY_BATCH})
  endif()
  target_include_directories(${target} PUBLIC ${NERFEDIT_SRC_DIR})
  target_link_libraries(${target} PUBLIC ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json Threads::Threads OpenMP::OpenMP_CXX)
  target_compile_options(${target} PUBLIC -fPIC -Wall -Wno-unused-parameter -Wno-sign-compare)
  target_precompile_headers(${target} REUSE_FROM nerfedit_pch)
endfunction()

# nerfedit_library(NAME SOURCES a.cc b.cc DEPS other_lib ...)
function(nerfedit_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  nerfedit_common(${name})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# nerfedit_tests(NAME SOURCES a_test.cc ... DEPS lib ...): one gtest binary per layer (LibTorch links slowly).
function(nerfedit_tests name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} ${NERFEDIT_SRC_DIR}/util/test_main.cc)
  nerfedit_common(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest)
  if(TCMALLOC_LIB)
    target_link_libraries(${name} PRIVATE ${TCMALLOC_LIB})
  endif()
  target_compile_definitions(${name} PRIVATE NERFEDIT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "NERFEDIT_SHARED_DATA=${CMAKE_SOURCE_DIR}/../shared/data")
endfunction()

# nerfedit_bench(NAME SOURCE file.cc DEPS lib ...): a benchmark executable in the build folder's root, where the
# bench/ scripts look for it.
function(nerfedit_bench name)
  cmake_parse_arguments(ARG "" "SOURCE" "DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCE})
  nerfedit_common(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  if(TCMALLOC_LIB)
    target_link_libraries(${name} PRIVATE ${TCMALLOC_LIB})
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
endfunction()
