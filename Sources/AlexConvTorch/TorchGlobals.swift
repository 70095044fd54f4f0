import AlexConvCore
import Foundation

// MARK: - Allowed globals

/// The pickle globals torch files may name: the allow-list of `torch.load(weights_only=True)`
/// (torch/_weights_only_unpickler.py) that concerns state dicts and checkpoints. Any other global
/// is refused by the pickle reader with its name; nothing is ever executed.
public enum TorchGlobals {
    /// Storage classes and the dtype each holds (`torch.UntypedStorage`: bytes).
    public static let storageTypes: [String: DType] = [
        "torch.FloatStorage": .float32, "torch.DoubleStorage": .float64, "torch.HalfStorage": .float16,
        "torch.BFloat16Storage": .bfloat16, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
        "torch.ShortStorage": .int16, "torch.CharStorage": .int8, "torch.ByteStorage": .uint8,
        "torch.BoolStorage": .bool, "torch.UntypedStorage": .uint8,
        "torch.cuda.FloatStorage": .float32, "torch.cuda.DoubleStorage": .float64, "torch.cuda.HalfStorage": .float16,
        "torch.cuda.BFloat16Storage": .bfloat16, "torch.cuda.LongStorage": .int64, "torch.cuda.IntStorage": .int32,
        "torch.cuda.ShortStorage": .int16, "torch.cuda.CharStorage": .int8, "torch.cuda.ByteStorage": .uint8,
        "torch.cuda.BoolStorage": .bool,
    ]

    /// Storage classes torch knows but alexconv cannot hold (complex, quantized, float8).
    static let unsupportedStorageTypes: Set<String> = [
        "torch.ComplexFloatStorage", "torch.ComplexDoubleStorage", "torch.QInt8Storage", "torch.QUInt8Storage",
        "torch.QInt32Storage", "torch.QUInt4x2Storage", "torch.QUInt2x4Storage",
    ]

    /// `torch.<dtype>` globals (in `_rebuild_tensor_v3`) and the dtype each names.
    public static let dtypes: [String: DType] = [
        "torch.float32": .float32, "torch.float": .float32, "torch.float64": .float64, "torch.double": .float64,
        "torch.float16": .float16, "torch.half": .float16, "torch.bfloat16": .bfloat16,
        "torch.int64": .int64, "torch.long": .int64, "torch.int32": .int32, "torch.int": .int32,
        "torch.int16": .int16, "torch.short": .int16, "torch.int8": .int8, "torch.uint8": .uint8, "torch.bool": .bool,
    ]

    /// dtypes torch has that alexconv does not read (named in errors rather than refused as unknown).
    static let unsupportedDTypes: Set<String> = [
        "torch.complex64", "torch.complex128", "torch.cfloat", "torch.cdouble", "torch.uint16", "torch.uint32",
        "torch.uint64", "torch.float8_e4m3fn", "torch.float8_e5m2", "torch.float8_e4m3fnuz", "torch.float8_e5m2fnuz",
        "torch.qint8", "torch.quint8", "torch.qint32",
    ]

    /// Tensor rebuild functions.
    static let rebuildTensorV2 = "torch._utils._rebuild_tensor_v2"
    static let rebuildTensorV3 = "torch._utils._rebuild_tensor_v3"
    static let rebuildTensor = "torch._utils._rebuild_tensor"
    static let rebuildParameter = "torch._utils._rebuild_parameter"
    static let rebuildParameterWithState = "torch._utils._rebuild_parameter_with_state"
    static let rebuildFromType = "torch._tensor._rebuild_from_type_v2"
    static let parameterClass = "torch.nn.parameter.Parameter"
    static let tensorClass = "torch.Tensor"
    static let sizeClass = "torch.Size"
    static let orderedDict = "collections.OrderedDict"

    /// Tensor kinds torch's safe loader allows that have no dense strided storage alexconv could view.
    static let unsupportedRebuilds: Set<String> = [
        "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_wrapper_subclass", "torch._utils._rebuild_device_tensor_from_cpu_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy", "torch._utils._rebuild_xla_tensor",
        "torch._utils._rebuild_mtia_tensor",
    ]

    /// Everything the pickle reader may name in a torch file.
    public static let allowed: Set<String> = {
        var names: Set<String> = [
            orderedDict, "collections.Counter", "builtins.set", "builtins.frozenset", "builtins.bytearray",
            "builtins.dict", "builtins.list", "builtins.tuple", "builtins.slice", "builtins.complex",
            "_codecs.encode",
            rebuildTensorV2, rebuildTensorV3, rebuildTensor, rebuildParameter, rebuildParameterWithState,
            rebuildFromType, parameterClass, tensorClass, sizeClass, "torch.device",
            "torch.serialization._get_layout", "torch.strided", "torch.sparse_coo",
            "torch._utils._rebuild_tensor_v2", "torch.nn.modules.module._IncompatibleKeys",
        ]
        names.formUnion(storageTypes.keys)
        names.formUnion(unsupportedStorageTypes)
        names.formUnion(dtypes.keys)
        names.formUnion(unsupportedDTypes)
        names.formUnion(unsupportedRebuilds)
        return names
    }()
}
