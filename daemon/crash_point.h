// Crash points: a test seam that lets tests kill honed with SIGKILL at a named
// point of its work, to prove that every such instant leaves a state the next start
// understands.
//
// Set HONE_TEST_CRASH_AT=NAME:N in honed's environment and the Nth time honed
// passes CrashPoint("NAME") it kills itself with SIGKILL. Without the variable a
// crash point costs one comparison. Points: "ledger-held" (original stored, knob not
// yet written), "knob-written" (one instance written), "restored-one" (one original
// written back, its ledger entry not yet deleted).
#pragma once

namespace hone {

void CrashPoint(const char* name);

}  // namespace hone
