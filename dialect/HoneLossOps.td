//===- HoneLossOps.td - hone loss algebra ------------------*- tablegen -*-===//
//
// The objective inside a hone.train_step region: element-wise and masked
// reduction ops on per-token / per-sequence tensors, differentiable by
// hone-differentiate (DESIGN.md §1). Filled in by the algorithms work.
//
//===----------------------------------------------------------------------===//

#ifndef HONE_LOSS_OPS_TD
#define HONE_LOSS_OPS_TD

include "dialect/HoneTypes.td"

#endif // HONE_LOSS_OPS_TD
