"""Images: any image file -> the 28x28 MNIST form (decode, preprocess), numbers and their
segmentation, pen strokes, and the distortions that make training copies."""
