//===- HoneStepOps.td - hone step-level ops ----------------*- tablegen -*-===//
//
// The step level: one step's dataflow inside a stage loop, on statically
// shaped tensors (DESIGN.md §1). Filled in by the algorithms work (issue 5).
//
//===----------------------------------------------------------------------===//

#ifndef HONE_STEP_OPS_TD
#define HONE_STEP_OPS_TD

include "dialect/HoneTypes.td"

#endif // HONE_STEP_OPS_TD
