# AdaIN, the 2D stylisation network of StylizedNeRF (issue 16). Included from models2d/CMakeLists.txt.
set(NERFEDIT_ADAIN_DIR ${CMAKE_CURRENT_LIST_DIR})

nerfedit_library(nerfedit_adain SOURCES ${NERFEDIT_ADAIN_DIR}/adain.cc
  DEPS nerfedit_models2d nerfedit_data nerfedit_util)

nerfedit_tests(adain_tests SOURCES ${NERFEDIT_ADAIN_DIR}/adain_test.cc DEPS nerfedit_adain nerfedit_test_support)

# `nerfedit stylize` and bench/stylize_procedural's executable: methods/stylize/CMakeLists.txt (they need the
# stylized field).
