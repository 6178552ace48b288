"""The plain library (numpy, scipy, pillow; never Prefect): every piece of the project's logic.

Rooms, lowest first (docs/ARCHITECTURE.md): errors, progress, atomic; images/ (any image -> the MNIST
form, numbers, strokes, distortions); model/ (the model protocol, the families, L-BFGS-B, presets,
model files); store/ (artifact layout, registry, runs, feedback); data/ (the data layers); explain;
reports/; batch/ (batch prediction) and training (a training run's model steps).
"""
