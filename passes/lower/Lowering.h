//===- Lowering.h - convert-hone-to-runtime's shared state -------*- C++ -*-===//
//
// The lowering of one hone.pipeline into main() and calls into the runtime's
// C ABI (passes/ConvertHoneToRuntime.cpp is the pass): its state and the
// declarations of the runtime's entry points, with the member functions
// defined one file per concern in passes/lower/.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialect/HoneForwards.h"
#include "passes/AttrToJson.h"
#include "passes/Passes.h"
#include "passes/RuntimeAbi.h"
#include "runtime/abi/hone_runtime.h" // HONE_RT_ABI_VERSION only: plain C

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <string>

namespace mlir::hone::lower {

constexpr int32_t kAbiVersion = HONE_RT_ABI_VERSION;

// Helpers of passes/lower/Values.cpp.
bool isObject(Type t);
std::string locString(Location loc);
int32_t dtypeOf(Type t);
bool isEnumKeyword(Attribute a);
bool abiKindMatches(Attribute a, abi::Kind k);

struct Lowering {
  ModuleOp module;
  MLIRContext *ctx;
  Type ptr, i8, i32, i64, tensorDesc;
  llvm::StringMap<LLVM::GlobalOp> strings;
  unsigned stringCounter = 0;
  OpBuilder entry; // allocas, at the start of main
  Value job;
  Value arena;
  llvm::DenseMap<Value, Value> tensorData; // tensor → its buffer
  SmallVector<Operation *> toErase;        // lowered, erased at the end
  llvm::DenseMap<Operation *, double> temperature; // log-prob reads
  llvm::DenseMap<Operation *, ArrayAttr> stageModelNames; // stage begins
  bool failedTemperature = false;
  llvm::DenseSet<Value> originalObject, originalModel;

  explicit Lowering(ModuleOp m)
      : module(m), ctx(m.getContext()), entry(m.getContext()) {
    ptr = LLVM::LLVMPointerType::get(ctx);
    i8 = IntegerType::get(ctx, 8);
    i32 = IntegerType::get(ctx, 32);
    i64 = IntegerType::get(ctx, 64);
    tensorDesc = LLVM::LLVMStructType::getLiteral(
        ctx, {ptr, i32, i32, LLVM::LLVMArrayType::get(i64, 2)});
  }

  LLVM::LLVMFuncOp declare(StringRef name, Type result, ArrayRef<Type> args) {
    if (auto f = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
      return f;
    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    return LLVM::LLVMFuncOp::create(
        b, module.getLoc(), name, LLVM::LLVMFunctionType::get(result, args));
  }
  LLVM::LLVMFuncOp rtBegin() {
    return declare("hone_rt_begin", ptr, {i32, i32, ptr, ptr, ptr, ptr, ptr});
  }
  LLVM::LLVMFuncOp rtEnd() { return declare("hone_rt_end", i32, {ptr}); }
  LLVM::LLVMFuncOp rtArena() {
    return declare("hone_rt_arena", ptr, {ptr, i64});
  }
  LLVM::LLVMFuncOp rtObject() {
    return declare("hone_rt_object", ptr, {ptr, ptr, ptr, ptr, i32, ptr});
  }
  LLVM::LLVMFuncOp rtStageBegin() {
    return declare("hone_rt_stage_begin", i64,
                   {ptr, ptr, ptr, i64, ptr, i32, ptr});
  }
  LLVM::LLVMFuncOp rtStepEnd() {
    return declare("hone_rt_step_end", LLVM::LLVMVoidType::get(ctx),
                   {ptr, i64});
  }
  LLVM::LLVMFuncOp rtStageEnd() {
    return declare("hone_rt_stage_end", LLVM::LLVMVoidType::get(ctx), {ptr});
  }
  LLVM::LLVMFuncOp rtStep() {
    return declare("hone_rt_step", LLVM::LLVMVoidType::get(ctx),
                   {ptr, ptr, ptr, ptr, i32, ptr, i32, ptr, i32, ptr});
  }
  LLVM::LLVMFuncOp rtEvent() {
    return declare("hone_rt_event", LLVM::LLVMVoidType::get(ctx),
                   {ptr, ptr, i32, i64});
  }
  LLVM::LLVMFuncOp rtSync() {
    return declare("hone_rt_sync", LLVM::LLVMVoidType::get(ctx), {ptr});
  }
  LLVM::LLVMFuncOp rtTrainStep() {
    return declare("hone_rt_train_step", LLVM::LLVMVoidType::get(ctx),
                   {ptr, ptr, ptr, i32, ptr, ptr, i32, i32, ptr, i32, ptr});
  }

  // passes/lower/Values.cpp: strings, constants, operand arrays, tensor descriptors and buffers in the arena.
  Value str(OpBuilder &b, Location loc, StringRef s);
  Value constI32(OpBuilder &b, Location loc, int64_t v);
  Value constI64(OpBuilder &b, Location loc, int64_t v);
  Value pointerArray(OpBuilder &b, Location loc, ValueRange values);
  Value scalarSlot(Location loc);
  FailureOr<Value> descriptors(OpBuilder &b, Location loc, Operation *op,
                               ValueRange values, bool isOutput,
                               SmallVectorImpl<Value> *scalarSlots = nullptr);
  LogicalResult bindResults(OpBuilder &b, Operation *op);
  Value arenaAt(OpBuilder &b, Location loc, int64_t offset);
  Value bufferAt(OpBuilder &b, Location loc, Value v);
  LogicalResult lowerCarriedTensors(scf::ForOp loop);

  // passes/lower/Calls.cpp: one runtime call per op, its attributes as JSON.
  FailureOr<std::string>
  attrsJson(Operation *op, const abi::OpRow &row,
            ArrayRef<std::pair<StringRef, Attribute>> lowered = {});
  const abi::OpRow *rowOf(Operation *op);
  LogicalResult lowerObject(Operation *op, const abi::OpRow &row);
  LogicalResult forwardObjects(Operation *op, ValueRange results,
                               ValueRange objects);
  SmallVector<std::pair<StringRef, Attribute>>
  readAttrs(OpBuilder &b, Operation *op);
  LogicalResult lowerStep(Operation *op, const abi::OpRow &row);
  void finishResults(OpBuilder &b, Location loc, Operation *op,
                     ArrayRef<Value> outSlots);
  LogicalResult lowerTrainStep(TrainStepOp step, const abi::OpRow &row);
  LogicalResult lowerStageBegin(ExecStageBeginOp begin,
                                const abi::OpRow &row);

  // passes/lower/Pipeline.cpp: the pipeline as main(): begin, stages, lanes, end.
  static std::string lanePlanJson(PipelineOp pipeline);
  /// True when a score waits for an external process beside other work
  /// (streamed, or generated ahead), or a rollout is generated ahead of its
  /// learning step (staleness > 0): config "lanes_pay", read by
  /// `--lanes auto` (runtime/abi/HoneRuntime.cpp).
  static bool lanesPay(PipelineOp pipeline);
  void loadScalars(OpBuilder &b, Location loc, ValueRange results,
                   ArrayRef<Value> slots);
  bool isObjectValue(Value v);
  LogicalResult lowerPipeline(PipelineOp pipeline);
};

} // namespace mlir::hone::lower
