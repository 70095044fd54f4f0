import AlexConvCore
import AlexConvKeras
import Foundation

/// Reads TensorFlow checkpoints without TensorFlow: TF1 `tf.train.Saver` checkpoints (tensors keyed
/// by variable name, `conv1/weights`), TF2 object-based checkpoints (`tf.train.Checkpoint`, Keras
/// `save_weights` without `.h5`: keys `conv1/kernel/.ATTRIBUTES/VARIABLE_VALUE` named through the
/// object graph), and tf.keras SavedModel directories (`variables/` plus the Keras config in
/// `keras_metadata.pb`).
///
/// Tensors keep TensorFlow's layout (`.channelsLast`): conv kernels (kh, kw, in/groups, out), dense
/// kernels (in, out), fc6 rows in (H, W, C) order. They are zero-copy views of the memory-mapped
/// data shards, each checked against its CRC-32C. Optimizer slots, step counters and other
/// bookkeeping are set aside and listed in the bundle's notes.
public enum TensorFlowCheckpointReader: WeightFileReader {
    public static let formatName = "tf-checkpoint"

    /// `X.index`, `X.data-NNNNN-of-NNNNN`, or a `checkpoint` state file.
    public static func matches(path: String, prefix: UnsafeRawBufferPointer) -> Bool {
        if CheckpointLocation.isBundleFile(path) { return true }
        if URL(fileURLWithPath: path).lastPathComponent == CheckpointLocation.stateFileName {
            let text = String(decoding: prefix.prefix(64), as: UTF8.self)
            return text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("model_checkpoint_path")
        }
        return false
    }

    /// A prefix whose `.index` exists, a directory with a `checkpoint` state file, or a SavedModel directory.
    public static func claims(path: String, isDirectory: Bool) -> Bool {
        CheckpointLocation.claims(path: path, isDirectory: isDirectory)
    }

    /// The index, every data shard it names, the state file that named it, and a SavedModel's `keras_metadata.pb`.
    public static func inputFiles(path: String, options: ReaderOptions) -> [String] {
        guard let location = try? CheckpointLocation.resolve(path) else { return [path] + options.files }
        var files = [path, location.prefix + ".index"]
        if let index = try? TensorBundleFiles(prefix: location.prefix) {
            files += (0..<index.index.shardCount).map(index.shardPath)
        }
        if let state = location.stateFile { files.append(state) }
        if case .savedModel(let directory) = location.kind { files.append(directory + "/" + SavedModelKerasConfig.fileName) }
        return files + options.files
    }

    /// Reads the checkpoint `path` names into a bundle in TensorFlow layout.
    public static func read(path: String) throws -> TensorBundle {
        let location = try CheckpointLocation.resolve(path)
        let files = try TensorBundleFiles(prefix: location.prefix)
        var bundle = try read(files, location: location)
        bundle.path = path
        return bundle
    }

    /// Reads a checkpoint whose `.index` is `indexBytes` (in memory) and whose data shards are
    /// looked up beside `prefix` (fuzzing: table, header and entries are all checked first).
    public static func read(indexBytes: UnsafeRawBufferPointer, prefix: String) throws -> TensorBundle {
        let files = try TensorBundleFiles(indexBytes: indexBytes, prefix: prefix)
        return try read(files, location: CheckpointLocation(prefix: prefix, kind: .checkpoint, notes: []))
    }

    /// Reads an opened bundle (`read(path:)` after resolving the path; fuzzing passes an index in memory).
    static func read(_ files: TensorBundleFiles, location: CheckpointLocation) throws -> TensorBundle {
        var notes = location.notes
        var graph: ObjectGraph?
        var objectGraphEntry: TensorBundleIndex.Entry?
        for entry in files.index.entries where entry.name == ObjectGraph.key {
            objectGraphEntry = entry
            guard entry.proto.dtype == .dtString, entry.proto.slices.isEmpty,
                try TensorBundleIndex.shape(of: entry.proto, name: entry.name, file: files.indexPath).isEmpty
            else {
                throw FormatError(
                    .malformed, file: files.indexPath, location: entry.name,
                    "the object graph must be a scalar DT_STRING, found \(TensorFlowDType.name(entry.proto.dtype))")
            }
            let bytes = try files.scalarString(entry.proto, name: entry.name, limit: TensorFlowLimits.maxObjectGraphBytes)
            graph = try ObjectGraph(serialized: bytes, file: files.shardPath(Int(entry.proto.shardID)))
        }
        let plan = try CheckpointContents(files: files, graph: graph)
        if let graph, objectGraphEntry != nil {
            notes.append("TF2 object-based checkpoint: \(graph.nodeCount) objects in \(ObjectGraph.key); names are the attribute paths of the saved model")
        }
        notes += plan.setAsideNotes

        var tensors: [NamedTensor] = []
        for weight in plan.weights {
            tensors.append(NamedTensor(weight.name, try files.tensor(weight.entry.proto, name: weight.entry.name, dtype: weight.dtype, shape: weight.shape)))
        }
        var hints = plan.layerHints
        var spec: ArchitectureSpec?
        var metadata: [String: String] = ["tensorflow.prefix": files.prefix, "tensorflow.shards": String(files.index.shardCount)]
        var format: String
        switch location.kind {
        case .savedModel(let directory):
            format = "saved-model (tf.keras SavedModel directory)"
            let keras = try SavedModelKerasConfig.read(directory: directory, tensors: tensors)
            notes += keras.notes
            metadata.merge(keras.metadata) { a, _ in a }
            if let configured = keras.hints {
                hints = configured
                spec = keras.spec
            }
        case .checkpoint:
            if graph != nil {
                format = "tf-checkpoint (TF2 object-based: tf.train.Checkpoint / Keras save_weights)"
            } else {
                format = "tf-checkpoint (TF1 tf.train.Saver: keys are variable names)"
                let meta = files.prefix + ".meta"
                let graphWords =
                    FileManager.default.fileExists(atPath: meta)
                    ? "the graph in \(URL(fileURLWithPath: meta).lastPathComponent) is not read: " : ""
                notes.append(
                    graphWords
                        + "a TF1 checkpoint does not record the architecture; it is detected from the tensors unless named (e.g. caffenet when the graph pools before its LRN, as seed 002's does)")
            }
        }
        return TensorBundle(
            path: files.prefix, format: format, tensors: tensors, layout: .channelsLast, spec: spec,
            metadata: metadata, notes: notes, layerHints: hints)
    }
}

// MARK: - What is a weight

/// The entries of a bundle sorted into weights (in model order, under their source names) and
/// what is set aside: optimizer slots and state, step counters, other bookkeeping.
struct CheckpointContents {
    struct Weight {
        /// Source name: the TF1 variable name, or the TF2 attribute path without `/.ATTRIBUTES/VARIABLE_VALUE`.
        var name: String
        var entry: TensorBundleIndex.Entry
        var dtype: DType
        var shape: [Int]
        /// Position in the object graph's depth-first walk (TF2), for the model's own order.
        var order: Int
    }

    enum SetAside: String, CaseIterable {
        case optimizerSlot = "optimizer slots"
        case optimizerState = "optimizer state"
        case counter = "step counters and other scalars"
        case nonNumeric = "tensors that are not numbers"
        case other = "object attributes other than variable values"
    }

    var weights: [Weight] = []
    var setAside: [(key: String, why: SetAside)] = []

    init(files: TensorBundleFiles, graph: ObjectGraph?) throws {
        let file = files.indexPath
        var candidates: [Weight] = []
        for entry in files.index.entries where entry.name != ObjectGraph.key {
            var name = entry.name
            var order = Int.max
            if let graph, let attribute = graph.attributes[entry.name] {
                if attribute.name != ObjectGraph.variableValue {
                    setAside.append((entry.name, .other))
                    continue
                }
                if attribute.isOptimizerState {
                    setAside.append(
                        (entry.name, attribute.path.first == "optimizer" && !entry.name.contains("/.OPTIMIZER_SLOT/") && !attribute.path.contains("_variables") ? .optimizerState : .optimizerSlot))
                    continue
                }
                order = attribute.order
            }
            if entry.name.hasSuffix(ObjectGraph.variableValueSuffix) {
                name = String(entry.name.dropLast(ObjectGraph.variableValueSuffix.count))
            }
            if name.contains("/.OPTIMIZER_SLOT/") {
                setAside.append((entry.name, .optimizerSlot))
                continue
            }
            let shape = try TensorBundleIndex.shape(of: entry.proto, name: entry.name, file: file)
            guard let dtype = TensorFlowDType.dtype(entry.proto.dtype) else {
                let role = ParsedTensorName(name).role
                if role != nil && role != .ignored {
                    throw FormatError(
                        .unsupported, file: file, location: entry.name,
                        "dtype \(TensorFlowDType.name(entry.proto.dtype)) where a weight tensor (floating point) is expected")
                }
                setAside.append((entry.name, .nonNumeric))
                continue
            }
            if !dtype.isFloatingPoint || shape.isEmpty || name == "save_counter" {
                setAside.append((entry.name, .counter))
                continue
            }
            candidates.append(Weight(name: name, entry: entry, dtype: dtype, shape: shape, order: order))
        }
        // TF1 slots: `conv1/weights/Adam` beside `conv1/weights`, same shape (Adam, Adam_1, Momentum,
        // RMSProp, ExponentialMovingAverage, ...).
        let shapes = Dictionary(candidates.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
        for candidate in candidates {
            if let slash = candidate.name.lastIndex(of: "/"), shapes[String(candidate.name[..<slash])] == candidate.shape {
                setAside.append((candidate.entry.name, .optimizerSlot))
            } else {
                weights.append(candidate)
            }
        }
        if graph != nil { weights.sort { $0.order < $1.order } }
    }

    /// One note per kind of tensor set aside, naming them.
    var setAsideNotes: [String] {
        SetAside.allCases.compactMap { kind in
            let keys = setAside.filter { $0.why == kind }.map(\.key)
            guard !keys.isEmpty else { return nil }
            let shown = keys.count > 1000 ? keys.prefix(1000).joined(separator: ", ") + ", ... (\(keys.count - 1000) more)" : keys.joined(separator: ", ")
            return "set aside \(keys.count) \(kind.rawValue) (not weights): \(shown)"
        }
    }

    /// For object-based checkpoints, the layers in the model's own order: the variables of one
    /// object (`conv1/kernel`, `conv1/bias`) form one layer, roles ordered weight, bias, mean,
    /// variance. Nil for name-based (TF1) checkpoints or when a role cannot be told from a name.
    var layerHints: [LayerHint]? {
        guard weights.contains(where: { $0.order != Int.max }) else { return nil }
        var groups: [(name: String, members: [Weight])] = []
        var index: [String: Int] = [:]
        for weight in weights {
            let owner = weight.name.split(separator: "/").dropLast().joined(separator: "/")
            if let i = index[owner] {
                groups[i].members.append(weight)
            } else {
                index[owner] = groups.count
                groups.append((owner, [weight]))
            }
        }
        let rank: [TensorRole: Int] = [.weight: 0, .bias: 1, .mean: 2, .variance: 3]
        var hints: [LayerHint] = []
        for group in groups {
            var ranked: [(Int, Weight)] = []
            for member in group.members {
                guard let role = ParsedTensorName(member.name).role, let r = rank[role] else { return nil }
                ranked.append((r, member))
            }
            ranked.sort { $0.0 < $1.0 }
            guard Set(ranked.map(\.0)).count == ranked.count else { return nil }
            let ranks = ranked.map { $0.1.shape.count }
            let kind: LayerHint.Kind? =
                ranks == [4, 1] || ranks == [4]
                ? .conv
                : ranks == [2, 1] || ranks == [2]
                    ? .dense
                    : ranked.count == 4 && ranks.allSatisfy({ $0 == 1 }) ? .batchNorm : nil
            hints.append(LayerHint(name: group.name, kind: kind, tensorNames: ranked.map { $0.1.name }))
        }
        return hints
    }
}
