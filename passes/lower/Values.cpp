//===- Values.cpp - convert-hone-to-runtime: values and buffers ------------===//
//
// Strings and constants, operand arrays, hone_tensor descriptors
// (runtime/abi/hone_runtime.h) over the arena that hone-plan-arena laid out,
// and the tensors a stage loop carries (passes/lower/Lowering.h).
//
//===----------------------------------------------------------------------===//

#include "passes/lower/Lowering.h"

using namespace mlir;
using namespace mlir::hone;

namespace mlir::hone::lower {

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
    // which AttrToJson prints as objects; a settings attribute's members
    // are checked against runtime/abi/settings.inl by the caller.
    return isa<DictionaryAttr>(a) ||
           (a.getDialect().getNamespace() == "hone" && !isEnumKeyword(a));
  case abi::Kind::Json:
    return true;
  }
  return false;
}

/// A pointer to a NUL-terminated constant string.
Value Lowering::str(OpBuilder &b, Location loc, StringRef s) {
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

Value Lowering::constI32(OpBuilder &b, Location loc, int64_t v) {
  return LLVM::ConstantOp::create(b, loc, i32, b.getI32IntegerAttr(v));
}

Value Lowering::constI64(OpBuilder &b, Location loc, int64_t v) {
  return LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
}

/// An array of `values` (pointers) in a stack slot; null when empty.
Value Lowering::pointerArray(OpBuilder &b, Location loc, ValueRange values) {
  if (values.empty())
    return LLVM::ZeroOp::create(b, loc, ptr);
  Value slot = LLVM::AllocaOp::create(entry, loc, ptr, ptr,
                                      constI64(entry, loc, values.size()), 8);
  for (auto [i, v] : llvm::enumerate(values)) {
    Value at = LLVM::GEPOp::create(b, loc, ptr, ptr, slot,
                                   ArrayRef<LLVM::GEPArg>{int32_t(i)});
    LLVM::StoreOp::create(b, loc, v, at);
  }
  return slot;
}

/// A scalar (index, iN, f32, f64) in a fresh 8-byte stack slot.
Value Lowering::scalarSlot(Location loc) {
  return LLVM::AllocaOp::create(entry, loc, ptr, i64, constI64(entry, loc, 1),
                                8);
}

/// hone_tensor descriptors for `values` (tensor buffers or scalars; a
/// scalar input is stored into its slot first). `outSlots` receives the
/// slots of scalar values so that results can be loaded back.
FailureOr<Value> Lowering::descriptors(OpBuilder &b, Location loc,
                                       Operation *op, ValueRange values,
                                       bool isOutput,
                                       SmallVectorImpl<Value> *scalarSlots) {
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
LogicalResult Lowering::bindResults(OpBuilder &b, Operation *op) {
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
Value Lowering::arenaAt(OpBuilder &b, Location loc, int64_t offset) {
  LLVM::GEPArg at = llvm::isInt<LLVM::kGEPConstantBitWidth>(offset)
                        ? LLVM::GEPArg(static_cast<int32_t>(offset))
                        : LLVM::GEPArg(constI64(b, loc, offset));
  return LLVM::GEPOp::create(b, loc, ptr, i8, arena,
                             ArrayRef<LLVM::GEPArg>{at});
}

/// The buffer of tensor `v` at `b`'s insertion point: a carried slot, or
/// its producer's planned offset.
Value Lowering::bufferAt(OpBuilder &b, Location loc, Value v) {
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
LogicalResult Lowering::lowerCarriedTensors(scf::ForOp loop) {
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

} // namespace mlir::hone::lower
