import AlexConv
import AlexConvONNX
import FuzzSupport

/// ONNX ModelProto decoding (swift-protobuf), initializers and the graph importer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let bundle = try ONNXReader.read(bytes: bytes, path: "fuzz.onnx")
        try FuzzHarness.exercise(bundle)
    }
}
