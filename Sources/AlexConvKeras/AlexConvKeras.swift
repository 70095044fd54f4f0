// AlexConvKeras module.
