// RUN: hone-opt %s -split-input-file -verify-diagnostics

/// An event is signalled on one of the job's lanes.

hone.pipeline @unknown_lane {
  // expected-error@+2 {{unknown lane 'gpu'}}
  // expected-note@+1 {{hint: lanes: rollout, learn, copy, comm}}
  hone.exec.signal 0 on "gpu"
}

// -----

/// A lane waits on an event of a known lane.

hone.pipeline @wait_lane {
  // expected-error@+2 {{unknown lane ''}}
  // expected-note@+1 {{hint: lanes: rollout, learn, copy, comm}}
  hone.exec.wait 1 on ""
}

// -----

/// Event ids are not negative.

hone.pipeline @negative_event {
  // expected-error@+2 {{event ids are not negative}}
  // expected-note@+1 {{hint: number events from 0}}
  hone.exec.wait -1 on "learn"
}
