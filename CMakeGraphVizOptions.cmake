# `cmake --graphviz=FILE build` (docs/architecture.md): the library layers and the executable only.
set(GRAPHVIZ_EXTERNAL_LIBS FALSE)
set(GRAPHVIZ_GENERATE_PER_TARGET FALSE)
set(GRAPHVIZ_GENERATE_DEPENDERS FALSE)
set(GRAPHVIZ_IGNORE_TARGETS "^test_;^bench_;^layering_;^lstfuse_lib$;^lstfuse_test_fixtures$")
