/// Limits of the TensorFlow readers: every count and size a checkpoint states is checked against
/// these (and against the bytes there are) before anything is allocated.
public enum TensorFlowLimits {
    /// Largest `.index` file read: 256 MiB (a 61M-parameter AlexNet's index is under 4 KB).
    public static let maxIndexBytes = 256 << 20
    /// Entries of one index.
    public static let maxEntries = 1_000_000
    /// Bytes of one key.
    public static let maxKeyBytes = 1 << 16
    /// Data shards one bundle may name (`num_shards`).
    public static let maxShards = 65_536
    /// Dimensions of one tensor (TensorFlow's own limit is 254).
    public static let maxRank = 254
    /// Slices of one partitioned variable.
    public static let maxSlices = 65_536
    /// Bytes of the serialized `TrackableObjectGraph` (`_CHECKPOINTABLE_OBJECT_GRAPH`).
    public static let maxObjectGraphBytes = 64 << 20
    /// Objects of one object graph.
    public static let maxObjectGraphNodes = 1_000_000
    /// Bytes of a `checkpoint` state file or a `keras_metadata.pb`.
    public static let maxStateFileBytes = 1 << 20
    public static let maxKerasMetadataBytes = 256 << 20
}
