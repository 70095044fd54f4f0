// AlexConvONNX module.
