import ArgumentParser

extension AlexConvCommand {
    /// Every subcommand, in the order `--help` lists them.
    static let allSubcommands: [ParsableCommand.Type] = [
        InspectCommand.self,
        ImportCommand.self,
        ExportCommand.self,
        ConvertCommand.self,
        RunCommand.self,
        PredictCommand.self,
        VerifyCommand.self,
        DiffCommand.self,
        EvaluateCommand.self,
        CompareCommand.self,
    ]
}
