# The small procedural CLIP (issue #3 item 6), its CLI command and benches. Included from models2d/CMakeLists.txt.
set(NERFEDIT_SMALL_CLIP_DIR ${CMAKE_CURRENT_LIST_DIR})

nerfedit_library(nerfedit_small_clip
  SOURCES ${NERFEDIT_SMALL_CLIP_DIR}/small_clip.cc ${NERFEDIT_SMALL_CLIP_DIR}/small_clip_data.cc
          ${NERFEDIT_SMALL_CLIP_DIR}/small_clip_scene_crops.cc
          ${NERFEDIT_SMALL_CLIP_DIR}/small_clip_eval.cc
          ${NERFEDIT_SMALL_CLIP_DIR}/small_clip_tokenizer.cc
  DEPS nerfedit_models2d nerfedit_data nerfedit_camera nerfedit_util)

# `nerfedit clip ...`: linked into the nerfedit binary by app/.
nerfedit_library(nerfedit_clip_command
  SOURCES ${NERFEDIT_SRC_DIR}/app/clip_command.cc
  DEPS nerfedit_small_clip nerfedit_models2d nerfedit_data nerfedit_util)

nerfedit_tests(small_clip_tests SOURCES ${NERFEDIT_SMALL_CLIP_DIR}/small_clip_test.cc
  DEPS nerfedit_small_clip nerfedit_test_support)

# bench/clip_small and bench/clip_latency drive this executable.
add_executable(clip_bench ${CMAKE_SOURCE_DIR}/bench/clip_bench.cc)
nerfedit_common(clip_bench)
target_link_libraries(clip_bench PRIVATE nerfedit_clip_command nerfedit_small_clip)
if(TCMALLOC_LIB)
  target_link_libraries(clip_bench PRIVATE ${TCMALLOC_LIB})
endif()
set_target_properties(clip_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
