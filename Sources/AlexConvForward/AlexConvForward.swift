// AlexConvForward module.
