# Subcommands that live in other layers' targets: linked when those targets exist.
if(TARGET nerfedit_clip_command)
  target_link_libraries(nerfedit PRIVATE nerfedit_clip_command)
  target_compile_definitions(nerfedit PRIVATE NERFEDIT_WITH_CLIP)
endif()
if(TARGET nerfedit_serve_command)
  target_link_libraries(nerfedit PRIVATE nerfedit_serve_command)
  target_compile_definitions(nerfedit PRIVATE NERFEDIT_WITH_SERVE)
endif()
