// AlexConvPickle module.
