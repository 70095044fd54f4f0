// AlexConvTorch module.
