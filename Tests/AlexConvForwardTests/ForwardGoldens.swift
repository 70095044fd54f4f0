import AlexConvNumPy
import TestSupport

extension ForwardFixtures {
    /// A golden the fixture script saved with numpy, read through the NumPy family's codec.
    static func golden(_ file: String) throws -> [Float] {
        try NumPyReader.readArray(path: FixturePaths.path("forward/\(file)")).floats()
    }
}
