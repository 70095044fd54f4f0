import AlexConvCore
import AlexConvPickle
import Foundation

// MARK: - Checkpoint unwrapping

/// Finds the state dict in an unpickled torch object and rebuilds its tensors as strided views.
enum TorchCheckpoint {
    /// The state dict's tensors in file order, `module.` prefixes stripped, with notes about
    /// what was unwrapped and what was left out.
    static func stateDict(
        in root: PickleValue, resolver: StorageResolver, notes: inout [String],
        metadata: inout [String: String]
    ) throws -> [NamedTensor] {
        var current = root
        var path: [String] = []
        for _ in 0...TorchArchiveReader.maxCheckpointNesting {
            guard let entries = mapping(current) else {
                if isTensor(current) {
                    return [NamedTensor("tensor", try rebuild(current, name: "tensor", resolver: resolver))]
                }
                throw FormatError(.malformed, "expected a state dict (a dict of tensors)\(where_(path)), found \(current.kindName)")
            }
            let keyed = entries.compactMap { entry in entry.key.text.map { ($0, entry.value) } }
            // A dict whose values are tensors is the state dict.
            if keyed.contains(where: { isTensor($0.1) }) {
                let wrapperKeys = keyed.filter { TorchArchiveReader.stateDictKeys.contains($0.0) && mapping($0.1) != nil }
                if wrapperKeys.isEmpty {
                    if let spec = alexconvSpec(ofStateDict: current) { metadata[CanonicalFile.specKey] = spec }
                    return try tensors(of: keyed, path: path, resolver: resolver, notes: &notes)
                }
            }
            // Otherwise follow the first checkpoint key holding a dict.
            guard
                let (key, value) = TorchArchiveReader.stateDictKeys.lazy.compactMap({ key in
                    keyed.first(where: { $0.0 == key && mapping($0.1) != nil })
                }).first
            else {
                let listing = keyed.prefix(12).map { "\($0.0) (\($0.1.kindName))" }.joined(separator: ", ")
                throw FormatError(.malformed, "no state dict found\(where_(path)): no tensors and none of the keys \(TorchArchiveReader.stateDictKeys.joined(separator: ", ")); keys: \(listing)")
            }
            let ignored = keyed.filter { $0.0 != key }.map { "\($0.0) (\(describe($0.1)))" }
            if !ignored.isEmpty {
                notes.append("checkpoint entries ignored\(where_(path)): \(ignored.joined(separator: ", "))")
            }
            notes.append("state dict taken from checkpoint key '\((path + [key]).joined(separator: "."))'")
            path.append(key)
            current = value
        }
        throw FormatError(.limit, "checkpoint nests state dicts deeper than \(TorchArchiveReader.maxCheckpointNesting) levels at '\(path.joined(separator: "."))'")
    }

    /// The architecture spec alexconv writes into a state dict's `_metadata['']['alexconv.spec']`
    /// (torch's loader passes `_metadata` entries to modules, which ignore keys they do not know).
    static func alexconvSpec(ofStateDict value: PickleValue) -> String? {
        guard case .object(let object) = value, let state = object.state?.dictEntries,
            let metadata = state.first(where: { $0.key.text == "_metadata" })?.value,
            let root = mapping(metadata)?.first(where: { $0.key.text == "" })?.value,
            let spec = mapping(root)?.first(where: { $0.key.text == CanonicalFile.specKey })?.value
        else { return nil }
        return spec.text
    }

    private static func where_(_ path: [String]) -> String {
        path.isEmpty ? "" : " under '\(path.joined(separator: "."))'"
    }

    /// Tensors of a state dict; `module.` (DataParallel) stripped when every tensor key has it.
    private static func tensors(
        of entries: [(String, PickleValue)], path: [String], resolver: StorageResolver,
        notes: inout [String]
    ) throws -> [NamedTensor] {
        var result: [NamedTensor] = []
        var skipped: [String] = []
        for (key, value) in entries {
            if isTensor(value) {
                result.append(NamedTensor(key, try rebuild(value, name: key, resolver: resolver)))
            } else {
                skipped.append("\(key) (\(describe(value)))")
            }
        }
        if !skipped.isEmpty {
            notes.append("non-tensor entries ignored\(where_(path)): \(skipped.joined(separator: ", "))")
        }
        let prefix = "module."
        if !result.isEmpty && result.allSatisfy({ $0.name.hasPrefix(prefix) }) {
            result = result.map { NamedTensor(String($0.name.dropFirst(prefix.count)), $0.tensor) }
            notes.append("DataParallel prefix 'module.' stripped from every tensor name")
        }
        var seen = Set<String>()
        for tensor in result where !seen.insert(tensor.name).inserted {
            throw FormatError(.corrupted, location: "tensor '\(tensor.name)'", "appears twice in the state dict")
        }
        return result
    }

    /// Key/value entries of a dict or an OrderedDict object.
    static func mapping(_ value: PickleValue) -> [(key: PickleValue, value: PickleValue)]? {
        switch value {
        case .dict(let dict): return dict.entries
        case .object(let object) where object.callable.description == TorchGlobals.orderedDict:
            return object.items
        default: return nil
        }
    }

    /// A short description of a skipped value for notes.
    static func describe(_ value: PickleValue) -> String {
        switch value {
        case .int(let v): return "int \(v)"
        case .float(let v): return "float \(v)"
        case .string(let s): return "str '\(s.prefix(40))'"
        default:
            if let entries = mapping(value) { return "dict of \(entries.count)" }
            return value.kindName
        }
    }

    // MARK: - Tensors

    static let rebuildFunctions: Set<String> = [
        TorchGlobals.rebuildTensorV2, TorchGlobals.rebuildTensorV3, TorchGlobals.rebuildTensor,
        TorchGlobals.rebuildParameter, TorchGlobals.rebuildParameterWithState, TorchGlobals.rebuildFromType,
        TorchGlobals.parameterClass,
    ]

    /// True when `value` is a recorded call that builds a tensor.
    static func isTensor(_ value: PickleValue) -> Bool {
        guard let object = value.object else { return false }
        let name = object.callable.description
        return rebuildFunctions.contains(name) || TorchGlobals.unsupportedRebuilds.contains(name)
    }

    /// The tensor a rebuild call describes: a strided view of its storage's bytes.
    static func rebuild(_ value: PickleValue, name: String, resolver: StorageResolver) throws -> Tensor {
        guard let object = value.object else {
            throw FormatError(.malformed, location: "tensor '\(name)'", "expected a tensor, found \(value.kindName)")
        }
        return try rebuild(function: object.callable.description, args: object.arguments, name: name, resolver: resolver)
    }

    static func rebuild(function: String, args: [PickleValue], name: String, resolver: StorageResolver) throws -> Tensor {
        let location = "tensor '\(name)'"
        func need(_ count: Int) throws {
            guard args.count >= count else {
                throw FormatError(.malformed, location: location, "\(function) needs \(count) arguments, the pickle gives \(args.count)")
            }
        }
        switch function {
        case TorchGlobals.rebuildParameter, TorchGlobals.rebuildParameterWithState, TorchGlobals.parameterClass:
            try need(1)
            return try rebuild(args[0], name: name, resolver: resolver)
        case TorchGlobals.rebuildFromType:
            // _rebuild_from_type_v2(func, new_type, args, state): func(*args) builds the tensor.
            try need(3)
            guard let inner = args[0].global, let innerArgs = args[2].sequence else {
                throw FormatError(.malformed, location: location, "_rebuild_from_type_v2 needs (function, type, args, state)")
            }
            return try rebuild(function: inner.description, args: innerArgs, name: name, resolver: resolver)
        case TorchGlobals.rebuildTensorV2, TorchGlobals.rebuildTensorV3, TorchGlobals.rebuildTensor:
            try need(4)
            guard case .persistentID(let id) = args[0] else {
                throw FormatError(.malformed, location: location, "first argument of \(function) is \(args[0].kindName), expected a storage")
            }
            let reference = try StorageReference(persistentID: id, tensorName: name)
            var dtype = reference.dtype
            if function == TorchGlobals.rebuildTensorV3 {
                try need(7)
                guard let dtypeName = args[6].global?.description else {
                    throw FormatError(.malformed, location: location, "dtype argument is \(args[6].kindName), expected a torch dtype")
                }
                guard let named = TorchGlobals.dtypes[dtypeName] else {
                    throw FormatError(.unsupported, location: location, "dtype \(dtypeName) is not supported (float32/64/16, bfloat16, int64/32/16/8, uint8, bool)")
                }
                dtype = named
            } else if reference.isUntyped {
                throw FormatError(.malformed, location: location, "an UntypedStorage needs _rebuild_tensor_v3 with a dtype, found \(function)")
            }
            guard let offset = args[1].int, offset >= 0 else {
                throw FormatError(.malformed, location: location, "storage offset is \(args[1].kindName), expected a non-negative int")
            }
            let shape = try integers(args[2], what: "size", location: location)
            let strides = try integers(args[3], what: "stride", location: location)
            guard shape.count == strides.count else {
                throw FormatError(.malformed, location: location, "size \(shape) and stride \(strides) have different ranks")
            }
            if let negative = strides.first(where: { $0 < 0 }) {
                throw FormatError(.malformed, location: location, "negative stride \(negative)")
            }
            let storage = try resolver.bytes(for: reference, tensorName: name)
            let byteOffset = try checkedMultiply(offset, dtype.size, what: location)
            return try Tensor(
                storage: storage, byteOffset: byteOffset, dtype: dtype, shape: shape, strides: strides,
                byteOrder: resolver.byteOrder, name: name)
        default:
            throw FormatError(.unsupported, location: location, "\(function) tensors (sparse, quantized, nested, meta or device-specific) are not supported; save a dense CPU tensor")
        }
    }

    /// A size or stride tuple (or torch.Size) as integers.
    static func integers(_ value: PickleValue, what: String, location: String) throws -> [Int] {
        var items = value.sequence
        if items == nil, let object = value.object, object.callable.description == TorchGlobals.sizeClass,
            let first = object.arguments.first
        {
            items = first.sequence
        }
        guard let items else { throw FormatError(.malformed, location: location, "\(what) is \(value.kindName), expected a tuple of ints") }
        return try items.map { item in
            guard let n = item.int else { throw FormatError(.malformed, location: location, "\(what) holds \(item.kindName), expected ints") }
            return n
        }
    }
}
