// The AlexConv library: what `import AlexConv` gives a Swift program (documented in AlexConv.docc).
//
//   Load      ModelLoader.load: any weight file alexconv reads -> a canonical `Model`.
//   Transform Conversion.transform: towers (1 <-> 2) and input channel order (RGB <-> BGR).
//   Export    Conversion.export with an ExportRequest: any format FormatRegistry.exportFormats names.
//   Run       Network (re-exported from AlexConvForward): the reference forward pass on a batch;
//             ForwardTasks.readBatch / run / predict for .npy batches and images.
//   Verify    ForwardTasks.verify (EXPECTED.json), ForwardTasks.diff and ModelDiff (two models).
//
// The vocabulary types (Model, Tensor, ArchitectureSpec, Presets, DType, ChannelOrder, the errors)
// come from AlexConvCore, re-exported here. Declarations marked `package` serve the `alexconv`
// command line inside this package and are not part of the library's API.
@_exported import AlexConvCore
@_exported import AlexConvForward
