// Crash points: a test seam that lets tests kill honed with SIGKILL at a named
// point of its work, to prove that every such instant leaves a state the next start
// understands.
//
// Set HONE_TEST_CRASH_AT=NAME:N in honed's environment and the Nth time honed
// passes CrashPoint("NAME") it kills itself with SIGKILL. Without the variable a
// crash point costs one comparison. Points: "ledger-held" (original stored, knob not
// yet written), "knob-written" (one instance written), "restored-one" (one original
// written back, its ledger entry not yet deleted), "load-job" (a stored job being
// read at start).
#pragma once

namespace hone {

void CrashPoint(const char* name);

// Fault points, the same seam for failures that are not crashes: with
// HONE_TEST_FAIL_AT=NAME:N set, the Nth pass through FailPoint("NAME") throws
// std::bad_alloc, as an allocation that fails would. Points: "propose" (the tuner
// choosing the next configuration of a job).
void FailPoint(const char* name);

// Hold points, to prove that slow work does not stop honed from serving: with
// HONE_TEST_HOLD_AT=NAME:N and HONE_TEST_HOLD_FILE=PATH set, the Nth pass through
// HoldPoint("NAME") creates PATH and waits until PATH is removed. Points:
// "propose".
void HoldPoint(const char* name);

}  // namespace hone
