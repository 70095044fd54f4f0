// AlexConv module.
