//===- HoneExecOps.td - hone scheduled-level ops -----------*- tablegen -*-===//
//
// The scheduled level (docs/design.md, "IR levels"): what the runtime must do beyond the
// step ops' dataflow. Model states are mutable handles in the runtime, so a
// state that is read after a train step updates it in place is copied first
// (hone.exec.snapshot); every stage loop is bracketed by the runtime calls
// that resume, checkpoint and log it; every step op runs on a lane (its
// `hone.lane`), and every edge between lanes is an explicit event
// (hone.exec.signal / hone.exec.wait), placed by hone-assign-lanes.
//
//===----------------------------------------------------------------------===//

#ifndef HONE_EXEC_OPS_TD
#define HONE_EXEC_OPS_TD

include "dialect/HoneTypes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Hone_ExecOp<string mnemonic, list<Trait> traits = []>
    : Hone_Op<"exec." # mnemonic, traits>;

def Hone_ExecSnapshotOp : Hone_ExecOp<"snapshot", [Pure, AllTypesMatch<["model", "result"]>]> {
  let summary = "a frozen copy of a model state";
  let description = [{
    In SSA terms the identity; in the runtime a new model holding a copy of
    the weights, so that later in-place training of `model` does not change
    what readers of the result see (a frozen reference).

    ```mlir
    %ref = hone.exec.snapshot %sft : !hone.model<#hone.arch<gpt2, vocab = 16, d_model = 32, layers = 1, heads = 2, kv_heads = 2, ffn = 64, max_seq = 32, norm_eps = 1.0e-05, rope_theta = 1.0e+04, tied = true, qkv_bias = false, head_dim = 0, qk_norm = false, rope_scaling = none, rope_factor = 1.0e+00, rope_low_freq = 1.0e+00, rope_high_freq = 4.0e+00, rope_original_max = 8192>>
    ```
  }];
  let arguments = (ins Hone_ModelType:$model);
  let results = (outs Hone_ModelType:$result);
  let assemblyFormat = "$model attr-dict `:` qualified(type($model))";
}

def Hone_ExecStageBeginOp : Hone_ExecOp<"stage_begin", [MemoryEffects<[MemWrite]>]> {
  let summary = "open a stage: returns the first step to run";
  let description = [{
    0 on a fresh run; on `--resume`, the step after the newest complete
    checkpoint (`steps` when the stage finished before it). The stage loop
    starts there.

    ```mlir
    %first = hone.exec.stage_begin "grpo" steps 20
    ```
  }];
  let arguments = (ins StrAttr:$name, I64Attr:$steps);
  let results = (outs Index:$first);
  let assemblyFormat = "$name `steps` $steps attr-dict";
}

def Hone_ExecStepEndOp : Hone_ExecOp<"step_end", [MemoryEffects<[MemWrite]>]> {
  let summary = "end of one step of the open stage";
  let description = [{
    Metrics, progress, periodic checkpoints and the NaN policy.

    ```mlir
    hone.exec.step_end %step
    ```
  }];
  let arguments = (ins Index:$step);
  let assemblyFormat = "$step attr-dict";
}

def Hone_ExecStageEndOp : Hone_ExecOp<"stage_end", [MemoryEffects<[MemWrite]>]> {
  let summary = "close the open stage";
  let description = [{
    ```mlir
    hone.exec.stage_end
    ```
  }];
  let assemblyFormat = "attr-dict";
}

def Hone_ExecSignalOp : Hone_ExecOp<"signal", [MemoryEffects<[MemWrite]>]> {
  let summary = "record an event on a lane";
  let description = [{
    Queued on `lane` after the step ops queued there before it: the event
    `event` is recorded when they have finished. In a loop, each iteration
    records the event again; a wait sees the latest record before it in
    program order (CUDA event semantics).

    ```mlir
    hone.exec.signal 3 on "rollout"
    ```
  }];
  let arguments = (ins I64Attr:$event, StrAttr:$lane);
  let assemblyFormat = "$event `on` $lane attr-dict";
  let hasVerifier = 1;
}

def Hone_ExecWaitOp : Hone_ExecOp<"wait", [MemoryEffects<[MemWrite]>]> {
  let summary = "make a lane wait for an event";
  let description = [{
    Step ops queued on `lane` after this wait start only once the latest
    record of `event` (in program order) has happened.

    ```mlir
    hone.exec.wait 3 on "learn"
    ```
  }];
  let arguments = (ins I64Attr:$event, StrAttr:$lane);
  let assemblyFormat = "$event `on` $lane attr-dict";
  let hasVerifier = 1;
}

def Hone_ExecSyncOp : Hone_ExecOp<"sync", [MemoryEffects<[MemWrite]>]> {
  let summary = "the host waits until every lane is idle";
  let description = [{
    Placed before an op with regions that run lane work (an `scf.if` inside
    a step) and at the end of such a region; stage brackets, object ops and
    ops whose scalar results the host reads synchronise implicitly.

    ```mlir
    hone.exec.sync
    ```
  }];
  let assemblyFormat = "attr-dict";
}

def Hone_ExecRolloutsResumeOp : Hone_ExecOp<"rollouts_resume", [MemoryEffects<[MemWrite]>]> {
  let summary = "the rollouts a pipelined stage starts with: fresh, or a checkpoint's";
  let description = [{
    Placed by hone-pipeline-rollouts after a pipelined RL stage's prologue:
    its results are its operands (the prologue's rollouts, in step order) on
    a fresh run; on a run resumed inside the stage they are the rollouts that
    were in flight when the checkpoint was written (the runtime skips the
    prologue then), so the resumed run continues bit-identically.

    ```mlir
    %r:2 = hone.exec.rollouts_resume %tok, %score : tensor<8x24xi32>, tensor<8xf32> -> tensor<8x24xi32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$rollouts);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = "$rollouts attr-dict `:` type($rollouts) `->` type($results)";
  let builders = [OpBuilder<(ins "ValueRange":$rollouts), [{
    build($_builder, $_state, rollouts.getTypes(), rollouts);
  }]>];
  let hasVerifier = 1;
}

def Hone_ExecRolloutsInFlightOp : Hone_ExecOp<"rollouts_in_flight", [MemoryEffects<[MemWrite]>]> {
  let summary = "the rollouts a checkpoint at the next step end must keep";
  let description = [{
    Placed by hone-pipeline-rollouts before each `hone.exec.step_end` of a
    pipelined RL stage: the rollouts generated for the next steps, in step
    order (as `hone.exec.rollouts_resume` takes them). A checkpoint written
    at the step end stores their bytes.

    ```mlir
    hone.exec.rollouts_in_flight %tok, %mask, %lold, %score : tensor<8x24xi32>, tensor<8x24xf32>, tensor<8x24xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$rollouts);
  let assemblyFormat = "$rollouts attr-dict `:` type($rollouts)";
}

#endif // HONE_EXEC_OPS_TD
