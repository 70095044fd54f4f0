import AlexConv
import AlexConvCaffe
import AlexConvCore
import Foundation

// MARK: - caffemodel <-> canonical benchmark (issue 14)

/// Converts a full-size BVLC AlexNet caffemodel (61M parameters, ~244 MB, made here with alexconv's
/// own Caffe writer, with its deploy prototxt beside it) caffemodel -> canonical and canonical ->
/// caffemodel with the `alexconv` binary, and the same two conversions the Python way (protobuf
/// `ParseFromString` + numpy, `Benchmarks/caffe_peer.py`), each in its own child process in the same
/// run. Prints wall time, peak RSS and their ratios. Targets (issue 14): at most 0.2x the Python
/// way's wall time; peak memory at most 1.25x the model's bytes.
enum CaffeBenchmark {
    static func run(directory: String, alexconv: String, python: String?, repeats: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let parameters = try Presets.caffeAlexNet.spec().expectedTensors().reduce(0) { $0 + $1.shape.reduce(1, *) }
        let modelBytes = parameters * 4
        let caffemodel = directory + "/bvlc_alexnet.caffemodel"
        let canonical = directory + "/bvlc_alexnet.alexnet.safetensors"
        let back = directory + "/back.caffemodel"
        // Made by a child process, so no measured child starts with the model in its parent's memory.
        let maker = try ChildProcess.run([CommandLine.arguments[0], "make-caffemodel", caffemodel])
        guard maker.status == 0 else { throw IOError(path: caffemodel, "could not write the benchmark model: \(maker.output)") }
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: caffemodel)[.size] as? Int) ?? 0
        print(
            String(
                format: "model: caffe-alexnet, %d parameters, %.1f MB of float32; caffemodel %.1f MB + deploy prototxt",
                parameters, Double(modelBytes) / 1e6, Double(fileBytes) / 1e6))

        let toCanonical = try ChildProcess.best([alexconv, "convert", caffemodel, canonical, "--force"], repeats: repeats)
        let toCaffe = try ChildProcess.best([alexconv, "export", canonical, "--format", "caffemodel", "-o", back, "--force"], repeats: repeats)
        let original = try ModelLoader.load(path: caffemodel)
        let roundTrip = try ModelLoader.load(path: back)
        for t in original.tensors where !(roundTrip[t.name]?.bitwiseEqual(t.tensor) ?? false) {
            throw ModelError(tensor: t.name, "caffemodel -> canonical -> caffemodel round trip is not bit-exact")
        }
        print("round trip caffemodel -> canonical -> caffemodel: bit-exact")

        func line(_ label: String, _ r: ChildProcess.Result) -> String {
            String(format: "  %@: %.3f s, peak RSS %.1f MB (%.2fx the model)", label, r.seconds, Double(r.peakRSSBytes) / 1e6, Double(r.peakRSSBytes) / Double(modelBytes))
        }
        print(line("alexconv caffemodel -> canonical", toCanonical))
        print(line("alexconv canonical -> caffemodel", toCaffe))
        // Why the reader scans blobs on the map: swift-protobuf decoding the whole NetParameter.
        let whole = try ChildProcess.best([CommandLine.arguments[0], "decode-whole-caffemodel", caffemodel], repeats: 1)
        print(line("swift-protobuf decoding the whole NetParameter (not used)", whole))
        guard let python else {
            print("  Python: skipped (no Python with protobuf, numpy and safetensors; set ALEXCONV_PYTHON)")
            return
        }
        let script = "Benchmarks/caffe_peer.py"
        let prototxt = CaffeExporter.prototxtPath(for: caffemodel)
        for fsync in [false, true] {
            let env = ["ALEXCONV_BENCH_FSYNC": fsync ? "1" : "0"]
            let pyToCanonical = try ChildProcess.best([python, script, "to-canonical", caffemodel, directory + "/py.safetensors"], repeats: repeats, environment: env)
            let pyToCaffe = try ChildProcess.best([python, script, "to-caffemodel", canonical, prototxt, directory + "/py.caffemodel"], repeats: repeats, environment: env)
            let label = fsync ? "protobuf + numpy + fsync" : "protobuf + numpy"
            print(line("\(label) caffemodel -> canonical", pyToCanonical))
            print(line("\(label) canonical -> caffemodel", pyToCaffe))
            print(
                String(
                    format: "  ratios alexconv/%@: wall %.3fx and %.3fx (target <= 0.2x); peak RSS %.2fx and %.2fx",
                    label, toCanonical.seconds / pyToCanonical.seconds, toCaffe.seconds / pyToCaffe.seconds,
                    Double(toCanonical.peakRSSBytes) / Double(pyToCanonical.peakRSSBytes),
                    Double(toCaffe.peakRSSBytes) / Double(pyToCaffe.peakRSSBytes)))
        }
        for name in ["py.safetensors", "py.caffemodel"] { try? FileManager.default.removeItem(atPath: directory + "/" + name) }
    }

    /// Writes the full-size model as a caffemodel + prototxt (`alexconv-bench make-caffemodel PATH`).
    static func makeModel(at path: String) throws {
        let model = try BenchmarkModels.random(Presets.caffeAlexNet.spec(), seed: 0x9E37_79B9_7F4A_7C15) { _ in 0.03 }
        try CaffeExporter.export(model, format: "caffemodel", to: path, options: ExportOptions())
    }
}
