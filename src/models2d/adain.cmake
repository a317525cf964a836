# AdaIN, the 2D stylisation network of StylizedNeRF (issue 16). Included from models2d/CMakeLists.txt.
set(NERFEDIT_ADAIN_DIR ${CMAKE_CURRENT_LIST_DIR})

nerfedit_library(nerfedit_adain SOURCES ${NERFEDIT_ADAIN_DIR}/adain.cc
  DEPS nerfedit_models2d nerfedit_data nerfedit_util)

nerfedit_tests(adain_tests SOURCES ${NERFEDIT_ADAIN_DIR}/adain_test.cc DEPS nerfedit_adain nerfedit_test_support)

# `nerfedit stylize ...`: linked into the nerfedit binary by app/commands.cmake.
nerfedit_library(nerfedit_stylize_command SOURCES ${NERFEDIT_SRC_DIR}/app/stylize_command.cc
  DEPS nerfedit_adain nerfedit_data nerfedit_util)

# bench/stylize_procedural drives this executable.
nerfedit_bench(stylize_bench SOURCE ${CMAKE_SOURCE_DIR}/bench/stylize_bench.cc DEPS nerfedit_adain nerfedit_eval)
