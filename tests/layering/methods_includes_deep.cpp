// Must not compile: the deep layer builds on methods/, not the other way round.
#include "lstfuse/deep/deep_method.hpp"
