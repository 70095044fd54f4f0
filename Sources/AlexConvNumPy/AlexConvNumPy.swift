// AlexConvNumPy module.
