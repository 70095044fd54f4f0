import AlexConvCore
import AlexConvNumPy
import Foundation

/// Writes a canonical `Model` as a TensorFlow checkpoint: `OUT.index` (the tensor bundle's table),
/// `OUT.data-00000-of-00001` (the tensors, little-endian, row-major) and a `checkpoint` state file
/// beside them naming `OUT`, all three atomically together. `-o` is the prefix `OUT`.
///
/// Layout written (TensorFlow's): conv kernels (kh, kw, in/groups, out), dense kernels (in, out),
/// fc6 rows in (H, W, C) order. Namings:
/// - `tf1` (default): variable names of seed 002's TF1 graph, `conv1/weights`, `conv1/biases`, ...,
///   `fc8/biases` (batch norm `bnK/gamma`, `beta`, `moving_mean`, `moving_variance`), which
///   `tf.compat.v1.train.Saver().restore` loads into that graph;
/// - `keras`: a TF2 object-based checkpoint for tf-keras `model.load_weights(OUT)` on the matching
///   Sequential or functional model: `layer_with_weights-N/kernel/.ATTRIBUTES/VARIABLE_VALUE` with
///   the `_CHECKPOINTABLE_OBJECT_GRAPH` that names them.
public enum TensorFlowCheckpointExporter: ModelExporter {
    public static let formats = ["tf-checkpoint"]
    /// `tf1` (default) and `keras`.
    public static let checkpointNamings = ["tf1", "keras"]

    /// `.ckpt`: the default prefix is `<stem>.ckpt` (files `<stem>.ckpt.index`, `<stem>.ckpt.data-00000-of-00001`).
    public static func fileExtension(for format: String) -> String { ".ckpt" }

    public static func namings(for format: String) -> [String] { checkpointNamings }

    /// `OUT.index`, `OUT.data-00000-of-00001` and the `checkpoint` state file in OUT's directory.
    public static func outputFiles(for format: String, path: String) -> [String] {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return [
            path + ".index", TensorBundleIndex.shardPath(prefix: path, shard: 0, of: 1),
            directory + "/" + CheckpointLocation.stateFileName,
        ]
    }

    public static func loadingNotes(for model: Model, format: String) -> [String] {
        [
            "naming tf1 restores with tf.compat.v1.train.Saver in a graph whose variable scopes conv1..fc8 hold `weights` and `biases` (seed 002's AlexNet); "
                + "the checkpoint holds only weights (no optimizer slots or global_step), so a training graph restores it with Saver(var_list=tf.compat.v1.trainable_variables()). "
                + "Naming keras restores with tf-keras model.load_weights(prefix) on the matching Sequential or functional model"
        ]
    }

    public static func export(_ model: Model, format: String, to path: String, options: ExportOptions) throws {
        guard format == "tf-checkpoint" else { throw UsageError("the TensorFlow exporter writes tf-checkpoint, not '\(format)'") }
        let naming = try checkedNaming(options, format: format) ?? "tf1"
        let dtype = options.dtype ?? .float32
        guard dtype.isFloatingPoint else {
            throw UsageError("TensorFlow checkpoints are written as float32, float16, bfloat16 or float64, not \(dtype.name)")
        }
        try model.validate()
        let layers = try NumPyExporter.channelsLastLayers(model)
        var items: [TensorBundleWriter.Item] = []
        switch naming {
        case "tf1":
            let tf1Role = ["W": "weights", "b": "biases", "gamma": "gamma", "beta": "beta", "mean": "moving_mean", "variance": "moving_variance"]
            for layer in layers {
                for (role, tensor) in layer.tensors {
                    items.append(.init(key: "\(layer.name)/\(tf1Role[role] ?? role)", content: .numeric(tensor)))
                }
            }
        case "keras":
            items = kerasItems(layers)
        default:
            preconditionFailure("checkedNaming lets only \(checkpointNamings) through")
        }
        let files = outputFiles(for: format, path: path)
        try TensorBundleWriter.write(
            items, dtype: dtype, indexPath: files[0], dataPath: files[1], statePath: files[2],
            prefixName: URL(fileURLWithPath: path).lastPathComponent, overwrite: options.overwrite)
    }

    /// Keras' TF2 keys and the object graph tf-keras matches them with: the root's children
    /// `layer_with_weights-N` (the model's layers with weights, in order), each with its variables.
    static func kerasItems(_ layers: [NumPyExporter.ChannelsLastLayer]) -> [TensorBundleWriter.Item] {
        let kerasRole = ["W": "kernel", "b": "bias", "gamma": "gamma", "beta": "beta", "mean": "moving_mean", "variance": "moving_variance"]
        var graph = Tensorflow_TrackableObjectGraph()
        var root = Tensorflow_TrackableObjectGraph.TrackableObject()
        var layerNodes: [Tensorflow_TrackableObjectGraph.TrackableObject] = []
        var variableNodes: [Tensorflow_TrackableObjectGraph.TrackableObject] = []
        var items: [TensorBundleWriter.Item] = []
        let firstVariable = 1 + layers.count
        for (n, layer) in layers.enumerated() {
            var edge = Tensorflow_TrackableObjectGraph.TrackableObject.ObjectReference()
            edge.nodeID = Int32(1 + n)
            edge.localName = "layer_with_weights-\(n)"
            root.children.append(edge)
            var node = Tensorflow_TrackableObjectGraph.TrackableObject()
            for (role, tensor) in layer.tensors {
                let attribute = kerasRole[role] ?? role
                let key = "layer_with_weights-\(n)/\(attribute)" + ObjectGraph.variableValueSuffix
                var child = Tensorflow_TrackableObjectGraph.TrackableObject.ObjectReference()
                child.nodeID = Int32(firstVariable + variableNodes.count)
                child.localName = attribute
                node.children.append(child)
                var serialized = Tensorflow_TrackableObjectGraph.TrackableObject.SerializedTensor()
                serialized.name = ObjectGraph.variableValue
                serialized.fullName = "\(layer.name)/\(attribute)"
                serialized.checkpointKey = key
                var variable = Tensorflow_TrackableObjectGraph.TrackableObject()
                variable.attributes = [serialized]
                variableNodes.append(variable)
                items.append(.init(key: key, content: .numeric(tensor)))
            }
            layerNodes.append(node)
        }
        graph.nodes = [root] + layerNodes + variableNodes
        let serialized = (try? graph.serializedBytes() as [UInt8]) ?? []
        items.append(.init(key: ObjectGraph.key, content: .string(serialized)))
        return items
    }
}

// MARK: - Writing a bundle

/// Writes a one-shard tensor bundle as TensorFlow's `BundleWriter` does: tensors back to back in
/// the data file (key order), each entry with shard 0, offset, size and the masked CRC-32C of its
/// bytes; the index a table of the header (one shard, little-endian, version 1) and the entries.
enum TensorBundleWriter {
    struct Item {
        enum Content {
            case numeric(Tensor)
            /// A scalar DT_STRING (`_CHECKPOINTABLE_OBJECT_GRAPH`).
            case string([UInt8])
        }
        var key: String
        var content: Content
    }

    static func write(
        _ items: [Item], dtype: DType, indexPath: String, dataPath: String, statePath: String,
        prefixName: String, overwrite: Bool
    ) throws {
        let sorted = items.sorted { LevelDBTable.less(Array($0.key.utf8), Array($1.key.utf8)) }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.key == b.key {
            throw ModelError(tensor: a.key, "two tensors would have the same checkpoint key")
        }
        try writeAtomically(files: [indexPath, dataPath, statePath], overwrite: overwrite) { writers in
            let (index, data, state) = (writers[0], writers[1], writers[2])
            var entries: [(key: [UInt8], value: [UInt8])] = []
            for item in sorted {
                var entry = Tensorflow_BundleEntryProto()
                entry.shardID = 0
                entry.offset = Int64(data.offset)
                var crc: UInt32 = 0
                switch item.content {
                case .numeric(let tensor):
                    entry.dtype = TensorFlowDType.tensorflow(dtype)
                    entry.shape = shape(tensor.shape)
                    try tensor.forEachChunk(as: dtype) { chunk in
                        crc = CRC32C.update(crc, chunk)
                        try data.write(chunk)
                    }
                case .string(let bytes):
                    entry.dtype = .dtString
                    entry.shape = shape([])
                    // WriteStringTensor: varint64 length, masked CRC-32C of the length (u32), the bytes.
                    let lengthBytes = Varint.encoded(UInt64(bytes.count))
                    crc = withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { CRC32C.checksum($0) }
                    let lengthChecksum = CRC32C.mask(crc)
                    var checksumBytes: [UInt8] = []
                    withUnsafeBytes(of: lengthChecksum.littleEndian) { checksumBytes.append(contentsOf: $0) }
                    crc = checksumBytes.withUnsafeBytes { CRC32C.update(crc, $0) }
                    crc = bytes.withUnsafeBytes { CRC32C.update(crc, $0) }
                    try data.write(lengthBytes)
                    try data.write(checksumBytes)
                    try data.write(bytes)
                }
                entry.size = Int64(data.offset) - entry.offset
                entry.crc32C = CRC32C.mask(crc)
                entries.append((Array(item.key.utf8), try entry.serializedBytes()))
            }
            var header = Tensorflow_BundleHeaderProto()
            header.numShards = 1
            header.endianness = .little
            var version = Tensorflow_VersionDef()
            version.producer = TensorBundleIndex.bundleVersion
            header.version = version
            var table = LevelDBTableBuilder()
            table.add(key: TensorBundleIndex.headerKey, value: try header.serializedBytes())
            for entry in entries { table.add(key: entry.key, value: entry.value) }
            try index.write(table.finish())
            try state.write(CheckpointState.text(naming: prefixName))
        }
    }

    static func shape(_ dims: [Int]) -> Tensorflow_TensorShapeProto {
        var shape = Tensorflow_TensorShapeProto()
        shape.dim = dims.map { size in
            var dim = Tensorflow_TensorShapeProto.Dim()
            dim.size = Int64(size)
            return dim
        }
        return shape
    }
}
