//===- ConvertHoneToRuntime.cpp - scheduled IR → calls into the runtime ---===//
//
// Each hone.pipeline becomes `int main(int argc, char **argv)`:
//
//   job = hone_rt_begin(HONE_RT_ABI_VERSION, argc, argv, name, config_json,
//                       spec_text, ir_text);
//   if (!job) return 0;                      // --help / --version
//   ... the pipeline body: object ops → hone_rt_object, step ops →
//       hone_rt_step, hone.train_step → hone_rt_train_step, hone.exec.* →
//       stage brackets and snapshots, scf.for / scf.if kept ...
//   return hone_rt_end(job);
//
// Object values (models, datasets, rewards, buffers) become opaque pointers;
// tensors become pointers into one zero-initialised arena per pipeline
// (hone_rt_arena) at the offsets hone-plan-arena fixed, passed as hone_tensor
// descriptors (runtime/abi/hone_runtime.h). Scalars (index, i1, ...) cross
// as rank-0 tensors in stack slots.
//
//===----------------------------------------------------------------------===//

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

namespace mlir::hone {
#define GEN_PASS_DEF_CONVERTHONETORUNTIME
#include "passes/Passes.h.inc"
} // namespace mlir::hone

using namespace mlir;
using namespace mlir::hone;

namespace {

constexpr int32_t kAbiVersion = HONE_RT_ABI_VERSION;

bool isObject(Type t) {
  return isa<ModelType, DatasetType, RewardType, BufferType>(t);
}

/// "file:line:col" of the first file location inside `loc`.
std::string locString(Location loc) {
  std::string out;
  loc->walk([&](Location l) {
    if (auto f = dyn_cast<FileLineColLoc>(l)) {
      out = (f.getFilename().getValue() + ":" + Twine(f.getLine()) + ":" +
             Twine(f.getColumn()))
                .str();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return out.empty() ? "<unknown>" : out;
}

/// hone_dtype of an element type; -1 if none.
int32_t dtypeOf(Type t) {
  if (t.isF32())
    return 0;
  if (t.isF64())
    return 1;
  if (t.isInteger(32))
    return 2;
  if (t.isInteger(64) || t.isIndex())
    return 3;
  if (t.isInteger(1))
    return 4;
  return -1;
}

/// An enum attribute: printed `#hone<kind keyword>`, sent as its keyword.
bool isEnumKeyword(Attribute a) {
  if (a.getDialect().getNamespace() != "hone")
    return false;
  std::string s;
  llvm::raw_string_ostream os(s);
  a.print(os);
  return StringRef(s).starts_with("#hone<");
}

/// Whether AttrToJson prints `a` as a JSON value of kind `k`.
bool abiKindMatches(Attribute a, abi::Kind k) {
  switch (k) {
  case abi::Kind::I64:
    return isa<IntegerAttr>(a) && !isa<BoolAttr>(a) &&
           !cast<IntegerAttr>(a).getType().isInteger(1);
  case abi::Kind::F64:
    return isa<FloatAttr>(a);
  case abi::Kind::Bool:
    return isa<BoolAttr>(a);
  case abi::Kind::Unit:
    return isa<UnitAttr, BoolAttr>(a);
  case abi::Kind::Str:
    return isa<StringAttr>(a) || isEnumKeyword(a);
  case abi::Kind::Strs: {
    auto arr = dyn_cast<ArrayAttr>(a);
    return arr && llvm::all_of(arr, llvm::IsaPred<StringAttr>);
  }
  case abi::Kind::I64s:
    return isa<DenseI64ArrayAttr>(a);
  case abi::Kind::F64s:
    return isa<DenseF64ArrayAttr>(a);
  case abi::Kind::Obj:
    // Dictionaries and the dialect's struct attributes (#hone.arch, ...),
    // which AttrToJson prints as objects; their keys are not checked here.
    return isa<DictionaryAttr>(a) ||
           (a.getDialect().getNamespace() == "hone" && !isEnumKeyword(a));
  }
  return false;
}

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

  /// A pointer to a NUL-terminated constant string.
  Value str(OpBuilder &b, Location loc, StringRef s) {
    auto it = strings.find(s);
    LLVM::GlobalOp global;
    if (it != strings.end()) {
      global = it->second;
    } else {
      OpBuilder gb = OpBuilder::atBlockBegin(module.getBody());
      auto type = LLVM::LLVMArrayType::get(i8, s.size() + 1);
      std::string value = s.str();
      value.push_back('\0');
      global = LLVM::GlobalOp::create(
          gb, loc, type, /*isConstant=*/true, LLVM::Linkage::Internal,
          ("__hone_str_" + Twine(stringCounter++)).str(),
          gb.getStringAttr(value));
      strings[s] = global;
    }
    return LLVM::AddressOfOp::create(b, loc, global);
  }

  Value constI32(OpBuilder &b, Location loc, int64_t v) {
    return LLVM::ConstantOp::create(b, loc, i32, b.getI32IntegerAttr(v));
  }
  Value constI64(OpBuilder &b, Location loc, int64_t v) {
    return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
  }

  /// An array of `values` (pointers) in a stack slot; null when empty.
  Value pointerArray(OpBuilder &b, Location loc, ValueRange values) {
    if (values.empty())
      return LLVM::ZeroOp::create(b, loc, ptr);
    Value slot = LLVM::AllocaOp::create(
        entry, loc, ptr, ptr, constI64(entry, loc, values.size()), 8);
    for (auto [i, v] : llvm::enumerate(values)) {
      Value at = LLVM::GEPOp::create(b, loc, ptr, ptr, slot,
                                     ArrayRef<LLVM::GEPArg>{int32_t(i)});
      LLVM::StoreOp::create(b, loc, v, at);
    }
    return slot;
  }

  /// A scalar (index, iN, f32, f64) in a fresh 8-byte stack slot.
  Value scalarSlot(Location loc) {
    return LLVM::AllocaOp::create(entry, loc, ptr, i64,
                                  constI64(entry, loc, 1), 8);
  }

  /// hone_tensor descriptors for `values` (tensor buffers or scalars; a
  /// scalar input is stored into its slot first). `outSlots` receives the
  /// slots of scalar values so that results can be loaded back.
  FailureOr<Value> descriptors(OpBuilder &b, Location loc, Operation *op,
                               ValueRange values, bool isOutput,
                               SmallVectorImpl<Value> *scalarSlots = nullptr) {
    if (values.empty())
      return Value(LLVM::ZeroOp::create(b, loc, ptr));
    Value array = LLVM::AllocaOp::create(
        entry, loc, ptr, tensorDesc, constI64(entry, loc, values.size()), 8);
    for (auto [i, v] : llvm::enumerate(values)) {
      Type t = v.getType();
      Value data;
      int32_t rank = 0;
      int64_t shape[2] = {0, 0};
      Type elem = t;
      if (auto tt = dyn_cast<RankedTensorType>(t)) {
        if (!tt.hasStaticShape() || tt.getRank() > 2)
          return op->emitOpError("convert-hone-to-runtime: tensor ")
                 << tt << " is not static of rank <= 2";
        elem = tt.getElementType();
        rank = tt.getRank();
        for (int64_t d = 0; d < rank; ++d)
          shape[d] = tt.getDimSize(d);
        data = tensorData.lookup(v);
        if (!data)
          return op->emitOpError("convert-hone-to-runtime: operand #")
                 << i << " has no planned buffer (run hone-plan-arena)";
      } else if (t.isIntOrIndexOrFloat()) {
        data = scalarSlot(loc);
        if (!isOutput) {
          Value stored = v;
          if (t.isIndex())
            stored = arith::IndexCastOp::create(b, loc, i64, v);
          else if (t.isInteger(1))
            stored = arith::ExtUIOp::create(b, loc, i8, v);
          LLVM::StoreOp::create(b, loc, stored, data);
        }
        if (scalarSlots)
          scalarSlots->push_back(data);
      } else {
        return op->emitOpError("convert-hone-to-runtime: cannot pass a ")
               << t << " to the runtime";
      }
      int32_t dtype = dtypeOf(elem);
      if (dtype < 0)
        return op->emitOpError("convert-hone-to-runtime: element type ")
               << elem << " has no hone_dtype";
      auto field = [&](ArrayRef<LLVM::GEPArg> idx) {
        SmallVector<LLVM::GEPArg> full{int32_t(i)};
        full.append(idx.begin(), idx.end());
        return LLVM::GEPOp::create(b, loc, ptr, tensorDesc, array, full);
      };
      LLVM::StoreOp::create(b, loc, data, field({0}));
      LLVM::StoreOp::create(b, loc, constI32(b, loc, dtype), field({1}));
      LLVM::StoreOp::create(b, loc, constI32(b, loc, rank), field({2}));
      LLVM::StoreOp::create(b, loc, constI64(b, loc, shape[0]),
                            field({3, 0}));
      LLVM::StoreOp::create(b, loc, constI64(b, loc, shape[1]),
                            field({3, 1}));
    }
    return array;
  }

  /// Buffers for the op's tensor results, at their planned offsets.
  LogicalResult bindResults(OpBuilder &b, Operation *op) {
    auto offsets = op->getAttrOfType<DenseI64ArrayAttr>("hone.offsets");
    for (auto [i, r] : llvm::enumerate(op->getResults())) {
      if (!isa<RankedTensorType>(r.getType()))
        continue;
      if (!offsets || offsets.size() != op->getNumResults() ||
          offsets[i] < 0)
        return op->emitOpError("convert-hone-to-runtime: result #")
               << i << " has no arena offset (run hone-plan-arena)";
      // A constant GEP index holds 29 bits (LLVM::kGEPConstantBitWidth, and
      // larger ones were silently wrapped: 1 GiB became 0): larger offsets
      // go as i64 values.
      LLVM::GEPArg at =
          llvm::isInt<LLVM::kGEPConstantBitWidth>(offsets[i])
              ? LLVM::GEPArg(static_cast<int32_t>(offsets[i]))
              : LLVM::GEPArg(constI64(b, op->getLoc(), offsets[i]));
      tensorData[r] = LLVM::GEPOp::create(b, op->getLoc(), ptr, i8, arena,
                                          ArrayRef<LLVM::GEPArg>{at});
    }
    return success();
  }

  /// arena + offset (constant GEP indices hold 29 bits; larger offsets go
  /// as i64 values).
  Value arenaAt(OpBuilder &b, Location loc, int64_t offset) {
    LLVM::GEPArg at = llvm::isInt<LLVM::kGEPConstantBitWidth>(offset)
                          ? LLVM::GEPArg(static_cast<int32_t>(offset))
                          : LLVM::GEPArg(constI64(b, loc, offset));
    return LLVM::GEPOp::create(b, loc, ptr, i8, arena,
                               ArrayRef<LLVM::GEPArg>{at});
  }

  /// The buffer of tensor `v` at `b`'s insertion point: a carried slot, or
  /// its producer's planned offset.
  Value bufferAt(OpBuilder &b, Location loc, Value v) {
    if (Value known = tensorData.lookup(v))
      return known;
    auto r = dyn_cast<OpResult>(v);
    if (!r)
      return {};
    auto offsets =
        r.getOwner()->getAttrOfType<DenseI64ArrayAttr>("hone.offsets");
    if (!offsets || offsets.size() != r.getOwner()->getNumResults() ||
        offsets[r.getResultNumber()] < 0)
      return {};
    return arenaAt(b, loc, offsets[r.getResultNumber()]);
  }

  /// An scf.for that carries tensors (the rollout slots of a pipelined RL
  /// stage) keeps only its other iteration arguments. Each tensor argument
  /// lives in one slot, the bytes hone-plan-arena gave the loop's result:
  /// the initial value is copied in before the loop, the yielded value at
  /// the end of each iteration, in argument order (a yield that shifts slot
  /// s + 1 into slot s reads it before it is overwritten). Every lane is
  /// idle at both points: the loop is preceded by a drain (hone-assign-lanes)
  /// and hone.exec.step_end drains before the yield.
  LogicalResult lowerCarriedTensors(scf::ForOp loop) {
    Location loc = loop.getLoc();
    auto offsets = loop->getAttrOfType<DenseI64ArrayAttr>("hone.offsets");
    unsigned n = loop.getNumResults();
    if (!offsets || offsets.size() != n)
      return loop.emitOpError("convert-hone-to-runtime: a loop that carries "
                              "tensors has no slot offsets (run "
                              "hone-plan-arena)");
    auto bytes = [](Type t) {
      auto tt = cast<RankedTensorType>(t);
      Type e = tt.getElementType();
      int64_t size = e.isInteger(1) ? 1 : (e.getIntOrFloatBitWidth() + 7) / 8;
      return size * tt.getNumElements();
    };
    OpBuilder b(loop);
    SmallVector<Value> slot(n), keptInits;
    SmallVector<bool> isTensor(n);
    for (unsigned i = 0; i < n; ++i) {
      Value init = loop.getInitArgs()[i];
      isTensor[i] = isa<RankedTensorType>(init.getType());
      if (!isTensor[i]) {
        keptInits.push_back(init);
        continue;
      }
      if (offsets[i] < 0)
        return loop.emitOpError("convert-hone-to-runtime: carried tensor #")
               << i << " has no slot offset";
      slot[i] = arenaAt(b, loc, offsets[i]);
      Value src = bufferAt(b, loc, init);
      if (!src)
        return loop.emitOpError("convert-hone-to-runtime: the initial value "
                                "of carried tensor #")
               << i << " has no planned buffer";
      LLVM::MemcpyOp::create(b, loc, slot[i], src,
                             constI64(b, loc, bytes(init.getType())), false);
    }
    auto fresh =
        scf::ForOp::create(b, loc, loop.getLowerBound(), loop.getUpperBound(),
                           loop.getStep(), keptInits);
    fresh->setDiscardableAttrs(loop->getDiscardableAttrDictionary());
    Block *from = loop.getBody(), *to = fresh.getBody();
    if (to->mightHaveTerminator())
      to->getTerminator()->erase();
    OpBuilder ib = OpBuilder::atBlockBegin(from);
    from->getArgument(0).replaceAllUsesWith(fresh.getInductionVar());
    unsigned kept = 0;
    auto castTo = [&](OpBuilder &at, Type t, Value data) {
      auto c = UnrealizedConversionCastOp::create(at, loc, t, data);
      tensorData[c.getResult(0)] = data;
      toErase.push_back(c);
      return c.getResult(0);
    };
    for (unsigned i = 0; i < n; ++i) {
      BlockArgument arg = loop.getRegionIterArgs()[i];
      if (isTensor[i]) {
        arg.replaceAllUsesWith(castTo(ib, arg.getType(), slot[i]));
        continue;
      }
      BlockArgument now = fresh.getRegionIterArgs()[kept++];
      now.setType(arg.getType()); // objects are pointers by now
      if (originalObject.contains(arg))
        originalObject.insert(now);
      if (originalModel.contains(arg))
        originalModel.insert(now);
      arg.replaceAllUsesWith(now);
    }
    auto yield = cast<scf::YieldOp>(from->getTerminator());
    OpBuilder yb(yield);
    SmallVector<Value> keptYield;
    for (unsigned i = 0; i < n; ++i) {
      Value v = yield.getOperand(i);
      if (!isTensor[i]) {
        keptYield.push_back(v);
        continue;
      }
      if (v == loop.getRegionIterArgs()[i])
        continue; // the slot keeps its bytes
      Value src = bufferAt(yb, loc, v);
      if (!src)
        return loop.emitOpError("convert-hone-to-runtime: the yielded value "
                                "of carried tensor #")
               << i << " has no planned buffer";
      LLVM::MemcpyOp::create(yb, loc, slot[i], src,
                             constI64(yb, loc, bytes(v.getType())), false);
    }
    scf::YieldOp::create(yb, loc, keptYield);
    yield.erase();
    to->getOperations().splice(to->end(), from->getOperations());
    b.setInsertionPointAfter(fresh);
    kept = 0;
    for (unsigned i = 0; i < n; ++i) {
      Value r = loop.getResult(i);
      if (isTensor[i]) {
        r.replaceAllUsesWith(castTo(b, r.getType(), slot[i]));
        continue;
      }
      Value now = fresh.getResult(kept++);
      now.setType(r.getType());
      if (originalObject.contains(r))
        originalObject.insert(now);
      if (originalModel.contains(r))
        originalModel.insert(now);
      r.replaceAllUsesWith(now);
    }
    loop.erase();
    return success();
  }

  /// One step of each stage loop as hone-assign-lanes planned it:
  /// {"stages": [{"stage", "ops": [{"op", "lane", "after": [i...]}]}]}, the
  /// loop body's step ops in program order with their lane ("host": after
  /// every lane drained) and the ops of other lanes whose events they wait
  /// for (indices into "ops"). A pipelined stage's steady loop is its step.
  /// Empty when no loop has lane work.
  static std::string lanePlanJson(PipelineOp pipeline) {
    std::string out;
    llvm::raw_string_ostream os(out);
    bool any = false;
    for (Operation &top : pipeline.getBody().front()) {
      auto loop = dyn_cast<scf::ForOp>(top);
      auto begin = loop ? loop.getLowerBound().getDefiningOp<ExecStageBeginOp>()
                        : ExecStageBeginOp();
      if (!begin)
        continue;
      llvm::StringMap<int> lastOnLane;
      llvm::DenseMap<int64_t, int> signalled;
      llvm::StringMap<SmallVector<int>> waits;
      std::string ops;
      int n = 0;
      for (Operation &op : loop.getBody()->without_terminator()) {
        if (auto sig = dyn_cast<ExecSignalOp>(op)) {
          auto it = lastOnLane.find(sig.getLane());
          if (it != lastOnLane.end())
            signalled[sig.getEvent()] = it->second;
          continue;
        }
        if (auto w = dyn_cast<ExecWaitOp>(op)) {
          if (auto it = signalled.find(w.getEvent()); it != signalled.end())
            waits[w.getLane()].push_back(it->second);
          continue;
        }
        auto lane = op.getAttrOfType<StringAttr>("hone.lane");
        if (!lane)
          continue;
        SmallVector<int> after = waits.lookup(lane.getValue());
        waits.erase(lane.getValue());
        ops += (n ? "," : "");
        ops += "{\"op\":\"" + op.getName().getStringRef().drop_front(5).str() +
               "\",\"lane\":\"" + lane.getValue().str() + "\",\"after\":[";
        for (auto [i, a] : llvm::enumerate(after))
          ops += (i ? "," : "") + std::to_string(a);
        ops += "]}";
        lastOnLane[lane.getValue()] = n++;
      }
      if (!n)
        continue;
      std::string name;
      for (char c : begin.getName()) {
        if (c == '"' || c == '\\')
          name += '\\';
        if (uint8_t(c) >= 0x20)
          name += c;
      }
      os << (any ? "," : "{\"stages\":[") << "{\"stage\":\"" << name
         << "\",\"ops\":[" << ops << "]}";
      any = true;
    }
    if (any)
      os << "]}";
    return out;
  }

  /// Loads scalar results back from their slots and replaces the op's
  /// scalar results with them.
  void loadScalars(OpBuilder &b, Location loc, ValueRange results,
                   ArrayRef<Value> slots) {
    unsigned k = 0;
    for (Value r : results) {
      Type t = r.getType();
      if (isa<RankedTensorType>(t) || isObject(t) || !t.isIntOrIndexOrFloat())
        continue;
      Value slot = slots[k++];
      Value v;
      if (t.isInteger(1)) {
        Value byte = LLVM::LoadOp::create(b, loc, i8, slot);
        v = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, byte,
                                  arith::ConstantIntOp::create(b, loc, i8, 0));
      } else if (t.isIndex()) {
        v = arith::IndexCastOp::create(
            b, loc, t, LLVM::LoadOp::create(b, loc, i64, slot));
      } else {
        v = LLVM::LoadOp::create(b, loc, t, slot);
      }
      r.replaceAllUsesWith(v);
    }
  }

  /// The op's attributes as JSON, exactly as its row of
  /// runtime/abi/step_ops.inl lists them: ODS attributes from the op's
  /// inherent attributes, DISC ones from its discardable attributes, LOWER
  /// ones from `lowered` (and "lane" from hone.lane). A required attribute
  /// that is missing, one of the wrong kind, or an attribute of the op that
  /// the row does not list is an error at the op.
  FailureOr<std::string>
  attrsJson(Operation *op, const abi::OpRow &row,
            ArrayRef<std::pair<StringRef, Attribute>> lowered = {}) {
    StringRef opName = op->getName().getStringRef();
    auto table = [&]() {
      return op->emitOpError("convert-hone-to-runtime: ");
    };
    llvm::StringMap<Attribute> fromLowering;
    for (auto &[k, v] : lowered)
      fromLowering[k] = v;
    if (row.call == abi::Call::Step || row.call == abi::Call::Train)
      if (Attribute lane = op->getAttr("hone.lane"))
        fromLowering["lane"] = lane;
    if (row.call == abi::Call::Step)
      if (Attribute ahead = op->getAttr("hone.ahead"))
        fromLowering["ahead"] = ahead;
    for (auto &e : fromLowering) {
      const abi::AttrRow *a = abi::findAttr(row, e.getKey());
      if (!a || a->from != abi::From::Lowering)
        return table() << "the lowering adds attribute '" << e.getKey()
                       << "', which runtime/abi/step_ops.inl does not list "
                          "for "
                       << opName << " as LOWER";
    }
    SmallVector<std::pair<StringRef, Attribute>> out;
    auto emit = [&](const abi::AttrRow &a) -> LogicalResult {
      Attribute v;
      switch (a.from) {
      case abi::From::Ods: {
        std::optional<Attribute> inherent = op->getInherentAttr(a.name);
        if (!inherent)
          return table() << "runtime/abi/step_ops.inl lists '" << a.name
                         << "' as an ODS attribute of " << opName
                         << ", which declares no such attribute";
        v = *inherent;
        if (!v && a.kind == abi::Kind::Unit)
          v = BoolAttr::get(ctx, false);
        break;
      }
      case abi::From::Discardable:
        v = op->getDiscardableAttr(a.name);
        break;
      case abi::From::Lowering:
        v = fromLowering.lookup(a.name);
        break;
      }
      if (!v) {
        if (a.need == abi::Need::Required)
          return table() << "missing attribute '" << a.name
                         << "', which the runtime requires of " << opName
                         << " (runtime/abi/step_ops.inl)";
        return success();
      }
      if (!abiKindMatches(v, a.kind))
        return table() << "attribute '" << a.name << "' is " << v
                       << ", but the runtime reads " << opName << "'s '"
                       << a.name << "' as " << abi::kindName(a.kind)
                       << " (runtime/abi/step_ops.inl)";
      out.push_back({a.name, v});
      return success();
    };
    for (const abi::AttrRow &a : abi::kAttrs)
      if (a.op == row.id && failed(emit(a)))
        return failure();
    if (row.call == abi::Call::Step || row.call == abi::Call::Train)
      if (failed(emit(abi::kLaneAttr)))
        return failure();
    if (row.call == abi::Call::Step)
      if (failed(emit(abi::kAheadAttr)))
        return failure();
    for (NamedAttribute a : op->getAttrDictionary()) {
      StringRef n = a.getName().getValue();
      if (n.starts_with("hone.") || n == "operandSegmentSizes" ||
          n == "resultSegmentSizes")
        continue;
      if (!abi::findAttr(row, n))
        return table() << "attribute '" << n << "' of " << opName
                       << " has no entry in the runtime table "
                          "(runtime/abi/step_ops.inl): add it there and "
                          "read it in the runtime, or drop it";
    }
    // The op's own attributes in name order (as its dictionary holds
    // them), then the lowering's in row order, then the lane.
    SmallVector<std::pair<StringRef, Attribute>> own, added;
    for (auto &e : out) {
      const abi::AttrRow *a = abi::findAttr(row, e.first);
      (a->from == abi::From::Lowering ? added : own).push_back(e);
    }
    llvm::stable_sort(own, [](auto &x, auto &y) { return x.first < y.first; });
    std::stable_partition(added.begin(), added.end(), [](auto &x) {
      return x.first != "lane" && x.first != "ahead";
    });
    own.append(added.begin(), added.end());
    return toJson(DictionaryAttr(), own);
  }

  /// The op's row of the runtime table; an error at the op if it has none.
  const abi::OpRow *rowOf(Operation *op) {
    StringRef name = op->getName().getStringRef();
    const abi::OpRow *row = abi::findOp(name.drop_front(5));
    if (!row)
      op->emitOpError("convert-hone-to-runtime: ")
          << name << " has no row in the runtime table "
                     "(runtime/abi/step_ops.inl), so the runtime cannot run it";
    return row;
  }

  LogicalResult lowerObject(Operation *op, const abi::OpRow &row) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    SmallVector<std::pair<StringRef, Attribute>> extra;
    if (op->getNumResults() == 1)
      if (auto model = dyn_cast<ModelType>(op->getResult(0).getType())) {
        extra.push_back({"arch", model.getArch()});
        extra.push_back(
            {"head", b.getStringAttr(stringifyEnum(model.getHead()))});
      }
    // A buffer's capacity lives in its type.
    if (op->getNumResults() == 1)
      if (auto buffer = dyn_cast<BufferType>(op->getResult(0).getType()))
        extra.push_back(
            {"capacity", b.getI64IntegerAttr(buffer.getCapacity())});
    // So does a dataset's column layout (the job imposes it, as the
    // compiler's data check did).
    if (op->getNumResults() == 1)
      if (auto data = dyn_cast<DatasetType>(op->getResult(0).getType()))
        extra.push_back(
            {"layout", b.getStringAttr(stringifyEnum(data.getLayout()))});
    if (op->getNumResults() != 1 || !isObject(op->getResult(0).getType()))
      return op->emitOpError(
          "convert-hone-to-runtime: an object op yields one object");
    std::string name = op->getName().getStringRef().drop_front(5).str();
    FailureOr<std::string> json = attrsJson(op, row, extra);
    if (failed(json))
      return failure();
    Value objs = pointerArray(b, loc, op->getOperands());
    Value handle =
        LLVM::CallOp::create(
            b, loc, rtObject(),
            ValueRange{job, str(b, loc, locString(loc)), str(b, loc, name),
                       str(b, loc, *json),
                       constI32(b, loc, op->getNumOperands()), objs})
            .getResult();
    op->getResult(0).replaceAllUsesWith(handle);
    toErase.push_back(op);
    return success();
  }

  /// Object results of a step op name the object operand they update.
  LogicalResult forwardObjects(Operation *op, ValueRange results,
                               ValueRange objects) {
    for (Value r : results) {
      if (!isObject(r.getType()))
        continue;
      auto it = llvm::find_if(objects, [&](Value o) {
        return o.getType() == r.getType() ||
               isa<LLVM::LLVMPointerType>(o.getType());
      });
      if (it == objects.end())
        return op->emitOpError("convert-hone-to-runtime: result ")
               << r.getType() << " updates no object operand";
      r.replaceAllUsesWith(*it);
    }
    return success();
  }

  /// hone.logprob's temperature (see the walk before lowering).
  SmallVector<std::pair<StringRef, Attribute>>
  logprobTemperature(OpBuilder &b, Operation *op) {
    if (!isa<LogprobOp>(op))
      return {};
    return {{"temperature", b.getF64FloatAttr(temperature.lookup(op))}};
  }

  LogicalResult lowerStep(Operation *op, const abi::OpRow &row) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    SmallVector<Value> objs, in, out;
    for (Value v : op->getOperands())
      (isObjectValue(v) ? objs : in).push_back(v);
    for (Value r : op->getResults())
      if (!isObject(r.getType()))
        out.push_back(r);
    if (failed(bindResults(b, op)))
      return failure();
    SmallVector<Value> outSlots;
    auto inDesc = descriptors(b, loc, op, in, false);
    auto outDesc = descriptors(b, loc, op, out, true, &outSlots);
    if (failed(inDesc) || failed(outDesc))
      return failure();
    std::string name = op->getName().getStringRef().drop_front(5).str();
    FailureOr<std::string> json = attrsJson(op, row, logprobTemperature(b, op));
    if (failed(json))
      return failure();
    LLVM::CallOp::create(
        b, loc, rtStep(),
        ValueRange{job, str(b, loc, locString(loc)), str(b, loc, name),
                   str(b, loc, *json), constI32(b, loc, objs.size()),
                   pointerArray(b, loc, objs), constI32(b, loc, in.size()),
                   *inDesc, constI32(b, loc, out.size()), *outDesc});
    finishResults(b, loc, op, outSlots);
    if (failed(forwardObjects(op, op->getResults(), objs)))
      return failure();
    toErase.push_back(op);
    return success();
  }

  void finishResults(OpBuilder &b, Location loc, Operation *op,
                     ArrayRef<Value> outSlots) {
    loadScalars(b, loc, op->getResults(), outSlots);
    // Tensor results are used only through their buffers from here on.
  }

  LogicalResult lowerTrainStep(TrainStepOp step, const abi::OpRow &row) {
    Operation *op = step;
    OpBuilder b(op);
    Location loc = op->getLoc();
    if (!step.getKernel())
      return step.emitOpError("convert-hone-to-runtime: no kernel name");
    std::string packedName = (*step.getKernel() + "_packed").str();
    auto packed = module.lookupSymbol<LLVM::LLVMFuncOp>(packedName);
    if (!packed)
      return step.emitOpError("convert-hone-to-runtime: no packed kernel @")
             << packedName << " (run hone-build-loss-kernels first)";
    SmallVector<Value> models(step.getModels());
    SmallVector<Value> in(step.getTokens());
    llvm::append_range(in, step.getInputs());
    SmallVector<Value> out;
    for (Value r : op->getResults())
      if (!isObject(r.getType()))
        out.push_back(r);
    // The names of the objective's metrics (none without an objective).
    Attribute metricNames = ArrayAttr::get(ctx, {});
    if (!step.getObjective().empty())
      if (auto yield = dyn_cast<LossYieldOp>(
              step.getObjective().front().getTerminator()))
        metricNames = yield.getMetricNames();
    FailureOr<std::string> json = attrsJson(
        op, row,
        {{"metric_names", metricNames},
         {"temperature", b.getF64FloatAttr(temperature.lookup(op))}});
    if (failed(json))
      return failure();
    if (failed(bindResults(b, op)))
      return failure();
    SmallVector<Value> outSlots;
    auto inDesc = descriptors(b, loc, op, in, false);
    auto outDesc = descriptors(b, loc, op, out, true, &outSlots);
    if (failed(inDesc) || failed(outDesc))
      return failure();
    Value kernel = LLVM::AddressOfOp::create(b, loc, packed);
    LLVM::CallOp::create(
        b, loc, rtTrainStep(),
        ValueRange{job, str(b, loc, locString(loc)), str(b, loc, *json),
                   constI32(b, loc, models.size()),
                   pointerArray(b, loc, models), kernel,
                   constI32(b, loc, step.getTokens().size()),
                   constI32(b, loc, in.size()), *inDesc,
                   constI32(b, loc, out.size()), *outDesc});
    finishResults(b, loc, op, outSlots);
    // Training is in place: the new model states are the old handles.
    unsigned m = 0;
    for (Value r : op->getResults())
      if (isObject(r.getType()))
        r.replaceAllUsesWith(models[m++]);
    toErase.push_back(op);
    return success();
  }

  LogicalResult lowerStageBegin(ExecStageBeginOp begin,
                                const abi::OpRow &row) {
    OpBuilder b(begin);
    Location loc = begin.getLoc();
    // The stage's models: the loop's object iter_args that are models.
    SmallVector<Value> models;
    OptimizerAttr optimizer;
    for (Operation *user : begin.getFirst().getUsers())
      if (auto loop = dyn_cast<scf::ForOp>(user)) {
        for (auto [init, arg] :
             llvm::zip(loop.getInitArgs(), loop.getRegionIterArgs()))
          if (originalModel.contains(arg))
            models.push_back(init);
        loop.walk([&](TrainStepOp step) {
          if (!optimizer)
            optimizer = step.getOptimizer();
        });
      }
    SmallVector<std::pair<StringRef, Attribute>> extra;
    if (optimizer)
      extra.push_back({"optimizer", optimizer});
    // The run's record: the stage's models by spec name and its effective
    // settings (hone-expand-stages keeps them on the stage loop).
    if (ArrayAttr names = stageModelNames.lookup(begin))
      extra.push_back({"models", names});
    for (Operation *user : begin.getFirst().getUsers())
      if (auto loop = dyn_cast<scf::ForOp>(user))
        if (Attribute s = loop->getAttr("hone.stage_settings")) {
          extra.push_back({"settings", s});
          break;
        }
    FailureOr<std::string> json = attrsJson(begin, row, extra);
    if (failed(json))
      return failure();
    Value first =
        LLVM::CallOp::create(
            b, loc, rtStageBegin(),
            ValueRange{job, str(b, loc, locString(loc)),
                       str(b, loc, begin.getName()),
                       constI64(b, loc, begin.getSteps()),
                       str(b, loc, *json),
                       constI32(b, loc, models.size()),
                       pointerArray(b, loc, models)})
            .getResult();
    begin.getFirst().replaceAllUsesWith(
        arith::IndexCastOp::create(b, loc, b.getIndexType(), first));
    toErase.push_back(begin);
    return success();
  }

  llvm::DenseSet<Value> originalObject, originalModel;

  /// An object operand: lowered objects are pointers, and no tensor is.
  bool isObjectValue(Value v) {
    return isObject(v.getType()) || isa<LLVM::LLVMPointerType>(v.getType());
  }

  LogicalResult lowerPipeline(PipelineOp pipeline) {
    Location loc = pipeline.getLoc();
    // Text of the IR as it reaches the runtime (before this lowering).
    std::string irText;
    {
      llvm::raw_string_ostream os(irText);
      module.print(os);
    }
    std::string specText;
    if (auto s = pipeline->getAttrOfType<StringAttr>("hone.spec_text"))
      specText = s.getValue().str();
    auto arenaBytes = pipeline->getAttrOfType<IntegerAttr>("hone.arena_bytes");
    if (!arenaBytes)
      return pipeline.emitOpError(
          "convert-hone-to-runtime: no hone.arena_bytes (run hone-plan-arena "
          "or hone-scheduled-pipeline first)");

    // Ops that are not lowered yet, before anything changes.
    WalkResult check = pipeline.getBody().walk<WalkOrder::PreOrder>(
        [&](Operation *op) {
      if (isa<TrainStepOp>(op))
        return WalkResult::skip();
      StringRef dialect = op->getName().getDialectNamespace();
      bool ok = false;
      if (dialect == "hone")
        ok = lowersThroughAbiTable(op->getName().getStringRef()) ||
             isa<ExecStepEndOp, ExecStageEndOp, ExecSignalOp, ExecWaitOp,
                 ExecSyncOp>(op);
      else if (isa<scf::ForOp, scf::IfOp, scf::YieldOp>(op))
        ok = true;
      else if (dialect == "arith")
        ok = llvm::none_of(op->getResultTypes(),
                           llvm::IsaPred<ShapedType>);
      if (!ok) {
        op->emitOpError("cannot be lowered to runtime calls yet "
                        "(convert-hone-to-runtime handles step-level hone "
                        "ops, hone.exec.*, scf.for/scf.if and scalar arith)");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (check.wasInterrupted())
      return failure();

    // The arena is allocated by the runtime (hone_rt_arena): a static one
    // past 2 GiB overflowed the code model at link time.
    if (arenaBytes.getInt() > (int64_t(1) << 40))
      return pipeline.emitOpError("convert-hone-to-runtime: the step buffers "
                                  "need ")
             << arenaBytes.getInt()
             << " bytes, more than 1 TiB; lower the batch size or the "
                "sequence lengths";

    // The job's run settings (dialect/HoneSettings.td `#hone.run`); the
    // runtime has no defaults for them.
    RunAttr run = pipeline.getRunAttr();
    if (!run)
      return pipeline.emitOpError("convert-hone-to-runtime: the pipeline "
                                  "has no run settings (#hone.run)")
             << "; compile it from a spec, or add run = #hone.run<...> "
                "(docs/dialect.md)";

    // main(argc, argv).
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto mainType = mb.getFunctionType({i32, ptr}, {i32});
    auto main = func::FuncOp::create(mb, loc, "main", mainType);
    Block *entryBlock = main.addEntryBlock();
    Block *body = new Block();
    Block *help = new Block();
    main.getBody().push_back(help);
    main.getBody().push_back(body);
    OpBuilder b = OpBuilder::atBlockEnd(entryBlock);
    // Stack slots go before everything else in the entry block.
    entry.setInsertionPoint(LLVM::ZeroOp::create(b, loc, ptr));
    std::string config = toJson(run);
    // Forwards, backwards, generated tokens and FLOPs per stage iteration
    // and model, before fusion and as compiled (dialect/HoneForwards.h):
    // the job's report shows them.
    config.pop_back(); // the closing brace of the run settings' object
    config += ",\"model_work\":" + workReportJson(pipeline) + "}";
    // The memory plan (hone-plan-memory) travels with the run settings: the
    // job checks its measured peak against it.
    if (auto plan =
            pipeline->getAttrOfType<DictionaryAttr>("hone.memory_plan")) {
      config.pop_back(); // the closing brace of the run settings' object
      config += ",\"memory_plan\":" + toJson(plan) + "}";
    }
    // The lane plan (hone-assign-lanes): the job draws it next to the
    // measured schedule.
    if (std::string plan = lanePlanJson(pipeline); !plan.empty()) {
      config.pop_back();
      config += ",\"lane_plan\":" + plan + "}";
    }
    job = LLVM::CallOp::create(
              b, loc, rtBegin(),
              ValueRange{constI32(b, loc, kAbiVersion),
                         entryBlock->getArgument(0), entryBlock->getArgument(1),
                         str(b, loc, pipeline.getSymName()),
                         str(b, loc, config), str(b, loc, specText),
                         str(b, loc, irText)})
              .getResult();
    Value isNull = LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::eq, job,
                                        LLVM::ZeroOp::create(b, loc, ptr));
    LLVM::CondBrOp::create(b, loc, isNull, help, body);
    {
      OpBuilder hb = OpBuilder::atBlockEnd(help);
      func::ReturnOp::create(hb, loc,
                             ValueRange{arith::ConstantIntOp::create(hb, loc, i32, 0)});
    }
    body->getOperations().splice(body->end(),
                                 pipeline.getBody().front().getOperations());
    b.setInsertionPointToEnd(body);
    Value rc = LLVM::CallOp::create(b, loc, rtEnd(), ValueRange{job})
                   .getResult();
    func::ReturnOp::create(b, loc, rc);

    b.setInsertionPointToStart(body);
    arena = LLVM::CallOp::create(
                b, loc, rtArena(),
                ValueRange{job, constI64(b, loc, std::max<int64_t>(
                                                     arenaBytes.getInt(), 1))})
                .getResult();

    // The spec names of each stage's models (its loop's model iteration
    // arguments), read before object types are lowered.
    main.walk([&](ExecStageBeginOp begin) {
      SmallVector<Attribute> names;
      for (Operation *user : begin.getFirst().getUsers())
        if (auto loop = dyn_cast<scf::ForOp>(user))
          for (BlockArgument arg : loop.getRegionIterArgs())
            if (isa<ModelType>(arg.getType()))
              names.push_back(StringAttr::get(ctx, modelName(arg)));
      stageModelNames[begin] = ArrayAttr::get(ctx, names);
    });
    // Object-typed values: remember them, then make them pointers.
    main.walk([&](Operation *op) {
      for (Value r : op->getResults())
        if (isObject(r.getType())) {
          originalObject.insert(r);
          if (isa<ModelType>(r.getType()))
            originalModel.insert(r);
        }
      for (Region &region : op->getRegions())
        for (Block &blk : region)
          for (BlockArgument a : blk.getArguments())
            if (isObject(a.getType())) {
              originalObject.insert(a);
              if (isa<ModelType>(a.getType()))
                originalModel.insert(a);
            }
    });
    main.walk([&](Operation *op) {
      if (isa<scf::ForOp, scf::IfOp>(op)) {
        for (Value r : op->getResults())
          if (isObject(r.getType()))
            r.setType(ptr);
        for (Region &region : op->getRegions())
          for (Block &blk : region)
            for (BlockArgument a : blk.getArguments())
              if (isObject(a.getType()))
                a.setType(ptr);
      }
    });

    // The temperature of each log-prob read: that of the hone.generate
    // that sampled its tokens (the only place a temperature lives,
    // dialect/HoneStepOps.td), 1 for data. Read before any op is lowered.
    main.walk([&](Operation *op) {
      SmallVector<Value> tokens;
      if (auto lp = dyn_cast<LogprobOp>(op))
        llvm::append_range(tokens, lp.getTokens());
      else if (auto ts = dyn_cast<TrainStepOp>(op))
        llvm::append_range(tokens, ts.getTokens());
      else
        return WalkResult::advance();
      std::optional<double> t;
      for (Value tok : tokens)
        if (GenerateOp gen = producingGenerate(tok)) {
          double g = gen.getTemperature().convertToDouble();
          if (t && *t != g) {
            op->emitOpError("reads tokens sampled at temperatures ")
                << *t << " and " << g << "; one step takes log-probs at one";
            failedTemperature = true;
          }
          t = g;
        }
      temperature[op] = t.value_or(1.0);
      return WalkResult::advance();
    });
    if (failedTemperature)
      return failure();

    // Loops that carry rollouts (hone-pipeline-rollouts): tensor iteration
    // arguments become fixed slots in the arena.
    SmallVector<scf::ForOp> carrying;
    main.walk([&](scf::ForOp loop) {
      if (llvm::any_of(loop.getResultTypes(), llvm::IsaPred<RankedTensorType>))
        carrying.push_back(loop);
    });
    for (scf::ForOp loop : carrying)
      if (failed(lowerCarriedTensors(loop)))
        return failure();

    SmallVector<Operation *> ops;
    main.walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<TrainStepOp>(op)) {
        ops.push_back(op);
        return WalkResult::skip();
      }
      if (op->getDialect() && op->getDialect()->getNamespace() == "hone")
        ops.push_back(op);
      return WalkResult::advance();
    });
    for (Operation *op : ops) {
      LogicalResult r = success();
      if (auto end = dyn_cast<ExecStepEndOp>(op)) {
        OpBuilder sb(op);
        LLVM::CallOp::create(
            sb, op->getLoc(), rtStepEnd(),
            ValueRange{job, arith::IndexCastOp::create(sb, op->getLoc(), i64,
                                                       end.getStep())});
        toErase.push_back(op);
      } else if (isa<ExecSignalOp, ExecWaitOp>(op)) {
        OpBuilder sb(op);
        bool signal = isa<ExecSignalOp>(op);
        auto lane = op->getAttrOfType<StringAttr>("lane");
        auto event = op->getAttrOfType<IntegerAttr>("event");
        LLVM::CallOp::create(
            sb, op->getLoc(), rtEvent(),
            ValueRange{job, str(sb, op->getLoc(), lane.getValue()),
                       constI32(sb, op->getLoc(), signal ? 0 : 1),
                       constI64(sb, op->getLoc(), event.getInt())});
        toErase.push_back(op);
      } else if (isa<ExecSyncOp>(op)) {
        OpBuilder sb(op);
        LLVM::CallOp::create(sb, op->getLoc(), rtSync(), ValueRange{job});
        toErase.push_back(op);
      } else if (isa<ExecStageEndOp>(op)) {
        OpBuilder sb(op);
        LLVM::CallOp::create(sb, op->getLoc(), rtStageEnd(), ValueRange{job});
        toErase.push_back(op);
      } else if (const abi::OpRow *row = rowOf(op)) {
        auto step = dyn_cast<TrainStepOp>(op);
        auto begin = dyn_cast<ExecStageBeginOp>(op);
        if ((row->call == abi::Call::Train) != bool(step) ||
            (row->call == abi::Call::Stage) != bool(begin))
          r = op->emitOpError("convert-hone-to-runtime: the runtime table's "
                              "call kind for this op is not the one its "
                              "lowering makes");
        else if (step)
          r = lowerTrainStep(step, *row);
        else if (begin)
          r = lowerStageBegin(begin, *row);
        else if (row->call == abi::Call::Object)
          r = lowerObject(op, *row);
        else
          r = lowerStep(op, *row);
      } else {
        r = failure();
      }
      if (failed(r))
        return failure();
    }
    // Tensor values were keys of tensorData until here.
    for (Operation *op : llvm::reverse(toErase)) {
      op->dropAllUses();
      op->erase();
    }
    // Attributes of the scheduled level have served their purpose.
    main.walk([](Operation *op) {
      op->removeAttr("hone.offsets");
      op->removeAttr("hone.arena_top");
    });
    pipeline.erase();
    return success();
  }
};

struct ConvertHoneToRuntime
    : public mlir::hone::impl::ConvertHoneToRuntimeBase<ConvertHoneToRuntime> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<PipelineOp> pipelines(module.getOps<PipelineOp>());
    if (pipelines.size() > 1) {
      pipelines[1].emitOpError("convert-hone-to-runtime: one pipeline per "
                               "module (each becomes main)");
      return signalPassFailure();
    }
    for (PipelineOp p : pipelines) {
      Lowering lowering(module);
      if (failed(lowering.lowerPipeline(p)))
        return signalPassFailure();
    }
  }
};
} // namespace

/// The ops that create a runtime object (the table's Object rows must be
/// exactly these: checkAbiTable).
static bool isRuntimeObjectOpName(StringRef name) {
  return llvm::is_contained({"hone.model.init", "hone.model.load",
                             "hone.model.new_head", "hone.model.lora",
                             "hone.dataset",
                             "hone.exec.snapshot", "hone.buffer.init"},
                            name) ||
         name.starts_with("hone.reward.");
}

bool mlir::hone::isRuntimeObjectOp(Operation *op) {
  return isRuntimeObjectOpName(op->getName().getStringRef());
}

bool mlir::hone::lowersThroughAbiTable(StringRef name) {
  if (!name.consume_front("hone."))
    return false;
  return !llvm::is_contained({"pipeline", "sft", "rl", "preference",
                              "reward_model", "eval", "exec.step_end",
                              "exec.stage_end", "exec.signal", "exec.wait",
                              "exec.sync"},
                             name) &&
         !name.starts_with("loss.");
}

unsigned mlir::hone::checkAbiTable(
    MLIRContext *ctx, ArrayRef<abi::OpRow> ops, ArrayRef<abi::AttrRow> attrs,
    function_ref<void(const Twine &)> complain) {
  unsigned problems = 0;
  auto bad = [&](const Twine &what) {
    ++problems;
    complain(what);
  };
  auto expectedCall = [](StringRef name) {
    return name == "hone.train_step"         ? abi::Call::Train
           : name == "hone.exec.stage_begin" ? abi::Call::Stage
           : isRuntimeObjectOpName(name)     ? abi::Call::Object
                                             : abi::Call::Step;
  };
  for (const abi::OpRow &r : ops) {
    std::string name = (Twine("hone.") + r.name).str();
    std::optional<RegisteredOperationName> reg =
        RegisteredOperationName::lookup(name, ctx);
    if (!reg) {
      bad("row '" + Twine(r.name) + "': " + name + " is not a registered op");
      continue;
    }
    if (!lowersThroughAbiTable(name))
      bad("row '" + Twine(r.name) + "': convert-hone-to-runtime does not "
          "lower " + name + " through the table");
    else if (expectedCall(name) != r.call)
      bad("row '" + Twine(r.name) + "': the lowering calls " + name +
          " through another entry point than the row says");
    for (const abi::AttrRow &a : attrs) {
      if (a.op != r.id)
        continue;
      bool declared = llvm::any_of(reg->getAttributeNames(), [&](StringAttr n) {
        return n.getValue() == a.name;
      });
      if (a.from == abi::From::Ods && !declared)
        bad("row '" + Twine(r.name) + "': attribute '" + a.name +
            "' is ODS, but " + name + " declares no such attribute");
      if (a.from != abi::From::Ods && declared)
        bad("row '" + Twine(r.name) + "': attribute '" + a.name + "' is " +
            (a.from == abi::From::Lowering ? "LOWER" : "DISC") + ", but " +
            name + " declares it (make it ODS)");
    }
  }
  for (const abi::AttrRow &a : attrs)
    if (llvm::none_of(ops, [&](const abi::OpRow &r) { return r.id == a.op; }))
      bad("attribute '" + Twine(a.name) + "' names no row");
  Dialect *hone = ctx->getLoadedDialect("hone");
  if (!hone) {
    bad("the hone dialect is not loaded");
    return problems;
  }
  for (RegisteredOperationName op : ctx->getRegisteredOperations()) {
    if (&op.getDialect() != hone || !lowersThroughAbiTable(op.getStringRef()))
      continue;
    StringRef short_ = op.getStringRef().drop_front(5);
    if (llvm::none_of(ops, [&](const abi::OpRow &r) { return short_ == r.name; }))
      bad(op.getStringRef() + " reaches the runtime but has no row");
  }
  return problems;
}
