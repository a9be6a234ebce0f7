"""Export room: a trained run to a SavedModel, .tflite files, model.json and parity.json."""
