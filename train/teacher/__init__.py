"""Teachers that turn unlabelled face crops into soft labels (face-api's FaceExpressionNet)."""
