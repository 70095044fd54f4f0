import Testing
@testable import AlexConvCaffe
