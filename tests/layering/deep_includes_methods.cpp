// Compiles: the deep layer builds on methods/ (the Method interface, tiling).
#include "lstfuse/deep/deep_method.hpp"
#include "lstfuse/methods/tiling.hpp"
