//===- Passes.td - the example plugin's passes -------------*- tablegen -*-===//
//
// Declared in TableGen, as Hone's own passes are (passes/Passes.td):
// hone_add_pass_plugin(... PASSES_TD Passes.td) generates
// HoneExamplePluginPasses.h.inc with the pass base class, its options and
// registerHoneExamplePluginPasses().
//
//===----------------------------------------------------------------------===//

#ifndef HONE_EXAMPLE_PLUGIN_PASSES_TD
#define HONE_EXAMPLE_PLUGIN_PASSES_TD

include "mlir/Pass/PassBase.td"

def ExampleCapSteps : Pass<"example-cap-steps", "::mlir::hone::PipelineOp"> {
  let summary = "Cap the steps of every training stage (for smoke tests)";
  let description = [{
    Lowers the `steps` of every training stage above `max` to `max`, so a
    whole pipeline can be smoke-tested in seconds before the real run, and
    reports each change as a remark at the stage.

    ```mlir
    %sft = hone.sft plain %m, %pc {steps = 1000, batch_size = 8} : ...
    // --example-cap-steps=max=2:
    %sft = hone.sft plain %m, %pc {steps = 2, batch_size = 8} : ...
    ```
  }];
  let options = [
    Option<"max", "max", "int64_t", /*default=*/"1",
           "largest step count kept">,
  ];
}

#endif // HONE_EXAMPLE_PLUGIN_PASSES_TD
