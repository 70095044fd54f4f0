import AlexConv
import AlexConvCore
import AlexConvNumPy
import Foundation

// MARK: - npy <-> canonical benchmark (issue 3)

/// Converts a full-size bvlc-shaped model (61M parameters, ~244 MB, made here with alexconv's own npy
/// writer) npy -> canonical and canonical -> npy with the `alexconv` binary, and the same two
/// conversions with numpy in Python (`Benchmarks/numpy_peer.py`), each side in its own child process
/// in the same run. Prints wall time, peak RSS and their ratios. Targets (issue 3): at most 0.2x
/// numpy's wall time; peak memory at most 1.25x the model's bytes.
enum NumPyBenchmark {
    static func run(directory: String, alexconv: String, python: String?, repeats: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let parameters = try Presets.caffeAlexNet.spec().expectedTensors().reduce(0) { $0 + $1.shape.reduce(1, *) }
        let modelBytes = parameters * 4
        let npy = directory + "/bvlc_alexnet.npy"
        let canonical = directory + "/bvlc_alexnet.alexnet.safetensors"
        let back = directory + "/bvlc_alexnet.back.npy"
        // The model is made by a child process: a child spawned while this process held the model
        // would start with its memory counted in ru_maxrss.
        let maker = try ChildProcess.run([CommandLine.arguments[0], "make-bvlc-npy", npy])
        guard maker.status == 0 else { throw IOError(path: npy, "could not write the benchmark model: \(maker.output)") }
        print(String(format: "model: caffe-alexnet, %d parameters, %.1f MB of float32", parameters, Double(modelBytes) / 1e6))

        let toCanonical = try ChildProcess.best([alexconv, "convert", npy, canonical, "--force"], repeats: repeats)
        let toNpy = try ChildProcess.best([alexconv, "export", canonical, "--format", "npy", "-o", back, "--force"], repeats: repeats)
        // The round trip must be exact before its speed means anything.
        let original = try ModelLoader.load(path: npy)
        let roundTrip = try ModelLoader.load(path: back)
        for t in original.tensors where !(roundTrip[t.name]?.bitwiseEqual(t.tensor) ?? false) {
            throw ModelError(tensor: t.name, "npy -> canonical -> npy round trip is not bit-exact")
        }
        print("round trip npy -> canonical -> npy: bit-exact")

        func line(_ label: String, _ r: ChildProcess.Result) -> String {
            String(format: "  %@: %.3f s, peak RSS %.1f MB (%.2fx the model)", label, r.seconds, Double(r.peakRSSBytes) / 1e6, Double(r.peakRSSBytes) / Double(modelBytes))
        }
        print(line("alexconv npy -> canonical", toCanonical))
        print(line("alexconv canonical -> npy", toNpy))
        guard let python else {
            print("  numpy: skipped (no Python with numpy and safetensors; set ALEXCONV_PYTHON)")
            return
        }
        let script = "Benchmarks/numpy_peer.py"
        for fsync in [false, true] {
            let env = ["ALEXCONV_BENCH_FSYNC": fsync ? "1" : "0"]
            let pyToCanonical = try ChildProcess.best([python, script, "to-canonical", npy, directory + "/py.safetensors"], repeats: repeats, environment: env)
            let pyToNpy = try ChildProcess.best([python, script, "to-npy", canonical, directory + "/py.npy"], repeats: repeats, environment: env)
            let label = fsync ? "numpy + fsync" : "numpy"
            print(line("\(label) npy -> canonical", pyToCanonical))
            print(line("\(label) canonical -> npy", pyToNpy))
            print(
                String(
                    format: "  ratios alexconv/%@: wall %.3fx and %.3fx (target <= 0.2x); peak RSS %.2fx and %.2fx",
                    label, toCanonical.seconds / pyToCanonical.seconds, toNpy.seconds / pyToNpy.seconds,
                    Double(toCanonical.peakRSSBytes) / Double(pyToCanonical.peakRSSBytes),
                    Double(toNpy.peakRSSBytes) / Double(pyToNpy.peakRSSBytes)))
        }
        for name in ["py.safetensors", "py.npy"] { try? FileManager.default.removeItem(atPath: directory + "/" + name) }
    }

    /// Writes the full-size bvlc-shaped model as a bvlc-style npy (`alexconv-bench make-bvlc-npy PATH`).
    static func makeModel(at path: String) throws {
        try NumPyExporter.export(BenchmarkModels.random(Presets.caffeAlexNet.spec(), seed: 0x2545_F491_4F6C_DD1D) { _ in 0.03 }, format: "npy", to: path, options: ExportOptions())
    }
}
