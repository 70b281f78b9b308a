#pragma once
// Fault injection for the tests of resuming after a kill.
//
// With LSTFUSE_KILL_AT=NAME:N in the environment, the process sends itself SIGKILL the N-th
// time it passes kill_point("NAME") (counted over all its threads). Tests use it to stop a run
// at an exact step (after the N-th stored tile, the N-th finished date) instead of racing a
// `kill` from outside against the clock, which misses its window on a loaded machine. Without
// the variable a kill point costs one atomic load. LSTFUSE_KILL_AT=NAME:N:TERM sends SIGTERM
// instead and holds the thread there (for a minute at most), as if the signal had come from
// outside at that step, so that the interruption's cleanup is what the test sees.
namespace lstfuse {

void kill_point(const char* name);

}  // namespace lstfuse
