import AlexConv
import AlexConvCaffe
import Foundation
import FuzzSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A private directory for this process's files (so no `deploy.prototxt` of anyone else is found beside them).
let fuzzDirectory: String = {
    var template = Array((NSTemporaryDirectory() + "alexconv-fuzz-caffe-XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { fatalError("fuzz harness: cannot create a directory") }
    return String(cString: made)
}()

/// A committed caffemodel the prototxt and mean modes pair the input with (scripts/fuzz.sh runs in the repository).
let fixtureModel = "Fixtures/caffe/caffenet/caffenet.caffemodel"

func write(_ bytes: UnsafeRawBufferPointer, _ name: String) -> String {
    let path = fuzzDirectory + "/" + name
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    return path
}

/// Caffe: the input as a caffemodel (wire scanner on the map, generated messages for the parameters,
/// layer chain, blobs against the layers), as a prototxt of a fixture caffemodel (TextFormat and the
/// error locator), and as a mean BlobProto.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCaffe(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(data, size) { bytes in
        let model = write(bytes, "fuzz.caffemodel")
        defer { unlink(model) }
        try FuzzHarness.exercise(try CaffeReader.read(path: model))
    }
    guard FileManager.default.fileExists(atPath: fixtureModel) else { return 0 }
    FuzzHarness.run(data, size) { bytes in
        let prototxt = write(bytes, "fuzz.prototxt")
        defer { unlink(prototxt) }
        try FuzzHarness.exercise(try CaffeReader.read(path: fixtureModel, options: ReaderOptions(prototxt: prototxt)))
    }
    FuzzHarness.run(data, size) { bytes in
        let mean = write(bytes, "fuzz.binaryproto")
        defer { unlink(mean) }
        try FuzzHarness.exercise(try CaffeReader.read(path: fixtureModel, options: ReaderOptions(mean: mean)))
    }
    return 0
}
