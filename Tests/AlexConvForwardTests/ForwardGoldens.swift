import AlexConvForward
import AlexConvNumPy
import TestSupport

extension ForwardFixtures {
    /// A golden the fixture script saved with numpy, read through the NumPy family's codec.
    /// The kernel sets this build can run: the reference path, and oneDNN where it is linked.
    static let kernels: [ForwardKernels] = ForwardKernels.oneDNNAvailable ? [.reference, .oneDNN] : [.reference]

    static func golden(_ file: String) throws -> [Float] {
        try NumPyReader.readArray(path: FixturePaths.path("forward/\(file)")).floats()
    }
}
