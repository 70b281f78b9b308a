// Must not compile: the deep layer runs below the pipeline that drives it.
#include "lstfuse/pipeline/fuse.hpp"
