// AlexConvZip module.
