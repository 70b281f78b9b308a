// Compiles: methods/ builds on prep/ (the coarse-bias step) and core/. The control case that
// shows the failing cases fail for their include, not for the way they are built.
#include "lstfuse/core/raster.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/prep/coarse_bias.hpp"
