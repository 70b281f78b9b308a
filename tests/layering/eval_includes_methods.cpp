// Must not compile: metrics compare rasters and know nothing of the methods that made them.
#include "lstfuse/methods/method.hpp"
