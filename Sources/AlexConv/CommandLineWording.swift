import Foundation

extension Remedy {
    /// The command-line option that carries out this remedy, as `alexconv` prints it after an error.
    package var commandLineHint: String {
        switch self {
        case .nameArchitecture: return "pass --arch PRESET or --arch SPEC.json"
        case .mapTensorNames: return "pass --map MAP.json"
        case .allowOverwrite: return "pass --force to overwrite it"
        }
    }
}

extension UserFacingError {
    /// The one-line message with the command-line option that fixes it, when there is one.
    package var commandLineMessage: String {
        guard let remedy else { return description }
        return description + " (\(remedy.commandLineHint))"
    }
}
