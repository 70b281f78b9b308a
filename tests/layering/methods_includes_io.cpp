// Must not compile: methods/ works on rasters in memory and never sees files (io/).
#include "lstfuse/io/raster_io.hpp"
