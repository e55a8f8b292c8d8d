"""Small signal-processing helpers shared by the engines and converters (pure functions and tiny stateful objects)."""
